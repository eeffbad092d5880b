"""Multi-label genre tags: label sets, the tag model's training and its evaluation."""
