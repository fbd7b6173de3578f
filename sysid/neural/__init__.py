"""The neural vector field: network, training windows, the adjoint training loop, NeuralField."""
