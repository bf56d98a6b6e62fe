"""Quality assurance: agreement, gold accuracy, drift, aggregation, label noise, gates."""
