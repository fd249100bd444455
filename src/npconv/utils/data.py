"""Datasets and batching: ``TensorDataset`` and ``DataLoader``."""
