"""The figure helpers tile what they are given: grey and colour grids, labelled rows."""
import matplotlib.image as mpimg
import numpy as np

from scratchvae.plots import colour_grid, image_grid, save_image_rows


def test_grids_put_each_image_in_its_cell():
    grey = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3) / 12
    g = image_grid(grey, nrow=2, pad=1)
    assert g.shape == (2 + 2, 2 * 4 + 1)
    np.testing.assert_array_equal(g[1:3, 1:4], grey[0])
    np.testing.assert_array_equal(g[1:3, 5:8], grey[1])
    colour = np.random.default_rng(0).uniform(size=(3, 3, 2, 2)).astype(np.float32)
    c = colour_grid(colour, nrow=2)
    assert c.shape == (2 * 3 + 1, 2 * 3 + 1, 3)
    np.testing.assert_array_equal(c[4:6, 1:3], colour[2].transpose(1, 2, 0))   # second row


def test_image_rows_draw_grey_and_colour_rows_into_one_png(tmp_path):
    rng = np.random.default_rng(1)
    rows = [("grey", rng.uniform(size=(4, 6, 6))), ("grey 4-d", rng.uniform(size=(4, 1, 6, 6))),
            ("colour", rng.uniform(-0.5, 1.5, size=(4, 3, 6, 6)))]       # clipped, not refused
    path = save_image_rows(rows, tmp_path / "sub" / "rows.png", "title")
    image = mpimg.imread(path)
    assert path.is_file() and image.ndim == 3 and image.shape[0] > 50


def test_loss_curves_draw_one_panel_per_term(tmp_path):
    from scratchvae.plots import save_loss_curves
    history = [{"epoch": e, "train_loss": 3.0 / e, "val_loss": 3.5 / e} for e in (1, 2, 3)]
    path = save_loss_curves(history, tmp_path / "loss.png", unit="squared error", val_label="test")
    assert path.is_file() and mpimg.imread(path).shape[0] > 50
