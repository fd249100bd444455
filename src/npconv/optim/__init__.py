"""Optimizers and learning-rate schedulers with torch's update rules (``npconv.optim``)."""
