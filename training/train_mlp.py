"""Train the shipped MLP from the published GTZAN feature table.

    python training/train_mlp.py ../shared/gtzan models/

Reads ``features_30_sec.csv`` (the Kaggle copy of GTZAN's 57 summary
features per 30-second clip) and Kereliuk & Sturm's fault-filtered split lists
(``splits/{train,valid,test}_filtered.txt``) from the data folder, runs the
recipe of ``tagger.training.table`` (choose on valid, refit on train + valid,
test once) on the fault-filtered split and, for comparison, on a seeded random
split, and writes ``mlp.keras``, its OpenVINO copy and the card ``mlp.json``
to the output folder.  Nothing of the data is copied: the model holds only its
weights and the scaler's 57 means and variances.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tagger.training.table import TABLE_NAME, train_from_table
from tagger.training.train import TrainConfig, install

PROVENANCE = {
    "table": TABLE_NAME,
    "source": "GTZAN Dataset - Music Genre Classification (Kaggle, Andrada Olteanu, 2020): "
    "features_30_sec.csv, librosa features of each whole clip",
    "audio": "GTZAN genre collection (Tzanetakis & Cook 2002): 1,000 clips of 30 s, "
    "10 genres; jazz.00054 (corrupt in every copy) left out",
    "split": "Kereliuk & Sturm fault-filtered lists (443 / 197 / 290 tracks), via "
    "Sturm's analysis of GTZAN's faults (repeated artists kept on one side)",
}
LICENCE = (
    "weights trained by tagger from the published GTZAN feature table; GTZAN states no "
    "licence (its clips were collected for research and stay their owners' copyright), so "
    "use the model as that data's terms allow"
)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help=f"folder with {TABLE_NAME} and splits/")
    ap.add_argument("out", type=Path, help="where mlp.keras and mlp.json go (models/ to ship)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="most epochs")
    args = ap.parse_args(argv)
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed)
    with tempfile.TemporaryDirectory() as work:
        trained = train_from_table(
            args.data / TABLE_NAME, args.data / "splits", cfg, Path(work) / "mlp"
        )
    command = "python training/train_mlp.py ../shared/gtzan models/" + (
        f" --seed {args.seed}" if args.seed else ""
    )
    if args.epochs != TrainConfig.epochs:
        command += f" --epochs {args.epochs}"
    trained.card.details.update(data=PROVENANCE, synthetic=False, command=command, licence=LICENCE)
    install(trained, args.out)
    acc = trained.card.details["accuracy"]
    print(
        f"mlp: fault-filtered test track accuracy {acc['track_accuracy']:.3f}, random split "
        f"{acc['random_split']['track_accuracy']:.3f} -> {args.out / 'mlp.keras'}"
    )


if __name__ == "__main__":
    main()
