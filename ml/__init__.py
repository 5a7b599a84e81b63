"""Model training, evaluation and the MLflow registry: the fraud model and the recommender."""
