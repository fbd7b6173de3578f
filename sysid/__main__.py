from sysid.cli import main

raise SystemExit(main())
