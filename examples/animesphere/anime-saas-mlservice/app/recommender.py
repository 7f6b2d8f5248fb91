"""Season recommendations: cosine similarity between a user's ratings and each anime."""
import numpy as np


def scores(user_vector: np.ndarray, anime_matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(anime_matrix, axis=1) * (np.linalg.norm(user_vector) or 1.0)
    return anime_matrix @ user_vector / np.where(norms == 0, 1.0, norms)
