"""A look inside one trained run: what it gets wrong and what its first layer looks for.

    python -m experiments.inspect RUN_DIR                 # figures into RUN_DIR/inspect/
    python -m experiments.inspect RUN_DIR --image 7.png   # the predicted digit for an image file

The figures are drawn by experiments/results/inspection.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nn_core
from experiments.results.inspection import inspect_run, read_image
from experiments.run.files import CHECKPOINT_FILE, MODEL_FILE, RunFolder, Status, read_result
from nn_core.augment import square_side


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.inspect", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run directory (holding model.npz)")
    parser.add_argument("--out", type=Path, help="folder for the figures (default: RUN/inspect)")
    parser.add_argument(
        "--image",
        type=Path,
        metavar="FILE.png",
        help="predict one image file: any size, greyscale or colour, either polarity",
    )
    args = parser.parse_args(argv)
    if not RunFolder(args.run).model_file.is_file():
        parser.error(f"{args.run}: no {MODEL_FILE}: {why_no_weights(args.run)}")
    try:
        if args.image:
            network, about = nn_core.load_network(RunFolder(args.run).model_file)
            side = square_side(about["sizes"][0])
            if not side:
                parser.error(f"{args.run}: its network takes {about['sizes'][0]} inputs, not a square image")
            if not args.image.is_file():
                parser.error(f"--image {args.image}: no such file")
            probabilities = network.predict_proba(read_image(args.image, side))[0]
            print(f"{args.image}: predicted {probabilities.argmax()} ({probabilities.max():.1%})")
            for label, p in enumerate(probabilities):
                print(f"  {label}: {p:.4f}")
            return 0
        out = args.out or args.run / "inspect"
        numbers = inspect_run(args.run, out)
    except (nn_core.DataError, OSError, ValueError) as error:
        parser.exit(2, f"python -m experiments.inspect: error: {error}\n")
    print(f"test accuracy {numbers['test_accuracy']:.4f}; per class:")
    print(numbers["per_class"].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for name in ("confusion.png", "mistakes.png", "first_layer.png", "per_class.csv"):
        if (out / name).is_file():
            print(f"written {out / name}")
    return 0


def why_no_weights(run: Path) -> str:
    """Why a folder holds no trained network, from what its files say."""
    result = read_result(run)
    if result is None:
        if RunFolder(run).checkpoint_file.is_file():
            return f"the run ended without a readable result (killed?); resume=true continues it from {CHECKPOINT_FILE}"
        return "not a run directory"
    if (result.get("hyperparameters") or {}).get("save_weights") is False:
        return "the run was made with save_weights=false"
    if result.get("status") == Status.DIVERGED:
        return "the run diverged, and a network with non-finite weights is not saved"
    return f"the run {result.get('status', 'ended')} before it saved any weights"


if __name__ == "__main__":
    raise SystemExit(main())
