"""A look inside one trained run: what it gets wrong and what its first layer
looks for (the command line: experiments/inspect.py).

Needs only the run's model.npz (self-describing: layer sizes, activation, input
scaling, data set) and the data set's test split; no config, no Hydra.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nn_core
from experiments.results.figures import save_figure
from experiments.run.files import RunFolder, load_result
from nn_core.atomic import write_atomically
from nn_core.augment import square_side

MISTAKES_SHOWN = 16  # the most confidently wrong test images in the figure
UNITS_SHOWN = 64  # first-layer units drawn as images


def load_run(run_dir: Path) -> tuple[nn_core.Network, dict, nn_core.Dataset]:
    """The run's network, its description, and the data set it was trained on
    (its test split is what inspection scores; validation is carved as in the run)."""
    network, about = nn_core.load_network(RunFolder(run_dir).model_file)
    name = about.get("data", "mnist_sample")
    # the run's own split (digits' test set depends on it), when its result.json says; a damaged
    # one is refused, not taken for the defaults: the test set scored could be another one
    try:
        hyperparameters = load_result(run_dir).get("hyperparameters", {})
    except FileNotFoundError:
        hyperparameters = {}
    except ValueError as error:
        raise ValueError(
            f"{RunFolder(run_dir).result_file} is unreadable ({error}): the run's data split is unknown"
        ) from None
    takes = {"val_size", "split_seed", "test_size"} & set(nn_core.DATASETS[name].options)
    options = {k: v for k, v in hyperparameters.get("data", {}).items() if k in takes}
    return network, about, nn_core.load_dataset(name, **options)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def inspect_run(run_dir: Path, out_dir: Path) -> dict:
    """Write confusion.png, mistakes.png, first_layer.png and per_class.csv into
    out_dir; return the numbers behind them."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    network, about, data = load_run(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    probabilities = network.predict_proba(data.X_test)  # (n_test, n_classes)
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(data.y_test, predicted, data.n_classes)
    per_class = pd.DataFrame(
        {
            "class": range(data.n_classes),
            "test_samples": matrix.sum(axis=1),
            "accuracy": np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1),
        }
    )
    write_atomically(out_dir / "per_class.csv", lambda f: f.write(per_class.to_csv(index=False).encode()))
    plot_confusion(matrix, per_class, data, predicted, out_dir / "confusion.png")
    wrong = np.flatnonzero(predicted != data.y_test)
    confidence = probabilities[wrong, predicted[wrong]]
    worst = wrong[np.argsort(-confidence)][:MISTAKES_SHOWN]
    side = square_side(data.n_features)
    if side and len(worst):
        plot_mistakes(worst, data, probabilities, side, out_dir / "mistakes.png")
    if side:
        plot_first_layer(network.trainable[0].params["W"], side, out_dir / "first_layer.png")
    return {
        "confusion": matrix,
        "per_class": per_class,
        "mistakes": worst,
        "test_accuracy": float(np.mean(predicted == data.y_test)),
    }


def plot_confusion(matrix: np.ndarray, per_class, data, predicted: np.ndarray, path: Path) -> None:
    """The confusion matrix (n_classes, n_classes) of counts, and each class's test accuracy as a bar."""
    import matplotlib.pyplot as plt

    fig, (ax, bars) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1.2, 1]})
    image = ax.imshow(matrix, cmap="Blues")
    ax.set(
        xlabel="predicted class",
        ylabel="true class",
        xticks=range(data.n_classes),
        yticks=range(data.n_classes),
        title=f"confusion matrix, {len(data.y_test):,} test images of {data.name}",
    )
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            colour = "w" if count > matrix.max() / 2 else "k"
            ax.text(j, i, str(count), ha="center", va="center", fontsize="x-small", color=colour)
    fig.colorbar(image, ax=ax)
    bars.barh(per_class["class"], per_class["accuracy"], color="tab:blue")
    bars.set(
        xlim=(0, 1.12),  # from zero, so that bar lengths compare; the room on the right holds the labels
        yticks=range(data.n_classes),
        xlabel="test accuracy",
        ylabel="class",
        title=f"per class (overall {np.mean(predicted == data.y_test):.4f})",
    )
    bars.invert_yaxis()
    for c, accuracy in zip(per_class["class"], per_class["accuracy"]):
        bars.text(accuracy, c, f" {accuracy:.3f}", va="center", fontsize="small")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def plot_mistakes(worst: np.ndarray, data, probabilities: np.ndarray, side: int, path: Path) -> None:
    """The test images indexed by `worst` (most confidently wrong first), each with its true and said class."""
    import matplotlib.pyplot as plt

    predicted = probabilities.argmax(axis=1)
    columns = 8
    rows = -(-len(worst) // columns)
    # constrained layout keeps each two-line title clear of the image above it (tight_layout did not)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.5, rows * 2.1), layout="constrained")
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, index in zip(np.ravel(axes), worst):
        ax.imshow(data.X_test[index].reshape(side, side), cmap="gray_r")
        ax.set_title(
            f"true {data.y_test[index]}, said {predicted[index]}\n{probabilities[index, predicted[index]]:.0%} sure",
            fontsize="small",
        )
    fig.suptitle("the test images it gets most confidently wrong")
    save_figure(fig, path, dpi=100)


def plot_first_layer(W: np.ndarray, side: int, path: Path) -> None:
    """W (n_features, n_hidden_1): each of the first UNITS_SHOWN hidden units' weights as a side x side image."""
    import matplotlib.pyplot as plt

    units = min(UNITS_SHOWN, W.shape[1])
    columns = 8
    rows = -(-units // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.2))
    for ax in np.ravel(axes):
        ax.axis("off")
    for unit, ax in enumerate(np.ravel(axes)[:units]):
        weights = W[:, unit].reshape(side, side)
        limit = np.abs(weights).max() or 1
        ax.imshow(weights, cmap="RdBu_r", vmin=-limit, vmax=limit)  # red: pixels that excite the unit
    fig.suptitle(f"first-layer weights of {units} of {W.shape[1]} hidden units (red +, blue -)")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def read_image(path: Path, side: int) -> np.ndarray:
    """An image file (PNG, any size, greyscale or colour) as (side * side,) floats in [0, 1],
    light strokes on a dark ground like MNIST: an image whose border is mostly light
    (dark ink on paper) is inverted. Resized by area averaging."""
    import matplotlib.image

    pixels = np.asarray(matplotlib.image.imread(path), dtype=np.float64)
    if pixels.max() > 1:  # 8-bit integer images
        pixels = pixels / 255.0
    if pixels.ndim == 3:  # RGB(A): luminance, ignoring alpha
        pixels = pixels[..., :3] @ np.array([0.299, 0.587, 0.114])
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 0.5:
        pixels = 1.0 - pixels
    rows = np.array_split(np.arange(pixels.shape[0]), side)
    cols = np.array_split(np.arange(pixels.shape[1]), side)
    small = np.array([[pixels[np.ix_(r, c)].mean() for c in cols] for r in rows])
    return np.clip(small, 0, 1).reshape(-1)
