"""The 3-D cosine surface helpers of scratchvae.data.cosine."""
import numpy as np


def test_surface_metrics_score_the_clean_surface_and_the_domain():
    from scratchvae.data import cosine3d_clean, surface_metrics
    rng = np.random.default_rng(0)
    xy = rng.uniform(-np.pi, np.pi, (500, 2))
    clean = np.column_stack([xy, cosine3d_clean(xy[:, 0], xy[:, 1])])
    assert surface_metrics(clean) == {"sample_height_error": 0.0, "sample_in_domain": 1.0}
    shifted = clean + np.array([4.0, 0.0, 0.5])          # x out of the domain, z off by 0.5
    m = surface_metrics(shifted)
    assert m["sample_in_domain"] < 0.5 and m["sample_height_error"] > 0.1
