"""The records and films a recipe trains on: the data set the recipe names (or `--dataset`),
from `--data`, through the film cache for the kinds that read pixels themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from core.datasets import load_dataset
from core.types import Record
from core.training.options import TrainOptions
from core.training.recipe import default_data_dir


def dataset_of(recipe: dict[str, Any], options: TrainOptions) -> str:
    return options.dataset or (recipe.get("data") or {}).get("dataset", "mias")


def data_dir_of(options: TrainOptions) -> Path:
    return Path(options.data) if options.data else default_data_dir()


def with_dataset(recipe: dict[str, Any], options: TrainOptions) -> dict[str, Any]:
    """The recipe as run: its `data.dataset` is the one trained on (cards say so)."""
    return recipe | {"data": dict(recipe.get("data") or {}, dataset=dataset_of(recipe, options))}


def load_records(recipe: dict[str, Any], options: TrainOptions) -> list[Record]:
    records = load_dataset(dataset_of(recipe, options), data_dir_of(options))
    missing = sum(1 for r in records if not r.path or not Path(r.path).is_file())
    records = [r for r in records if r.path and Path(r.path).is_file()]
    if missing and not records:
        from core.errors import DatasetError

        raise DatasetError("the data set's table lists films, but none of their image files is in the data folder")
    return records[: options.film_limit]


def recipe_films(records: list[Record], long_side: int | None, options: TrainOptions, log: Callable[[str], None] = print):
    """The films at the recipe's resolution, decoded once into the cache and read lazily."""
    from core.training.cache import FilmPipeline
    from core.training.films import stream_films

    return stream_films(records, FilmPipeline(long_side), workers=options.workers, log=log)
