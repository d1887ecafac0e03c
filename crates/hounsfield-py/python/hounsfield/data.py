"""Reading Hounsfield shards for training, with the WebDataset libraries.

:func:`dataset` streams ``(tensor, metadata)`` pairs with ``webdataset``
and splits the shards between nodes and DataLoader workers.
:func:`indexed_dataset` gives random access through ``wids`` and the
``shards/index.json`` that ``hounsfield convert`` and ``hounsfield
finalize`` write.

``torch`` is imported only when tensors are requested as torch tensors, so
the streaming reader also works with NumPy arrays where torch is not
installed.
"""

from __future__ import annotations

import glob
import io
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np

if TYPE_CHECKING:
    import webdataset

#: A source of shards: an output folder, a ``shards`` folder, an index file,
#: a WebDataset URL or brace pattern, or a list of shard URLs.
ShardSource = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]

#: The array type of the tensors: ``torch.Tensor`` or ``numpy.ndarray``.
TensorType = Literal["torch", "numpy"]

INDEX_FILE = "index.json"


def _index_urls(index_path: str) -> list[str]:
    with open(index_path, encoding="utf-8") as file:
        index = json.load(file)
    base = os.path.dirname(index_path)
    urls = []
    for shard in index["shardlist"]:
        url = shard["url"]
        if "://" in url or url.startswith("pipe:") or os.path.isabs(url):
            urls.append(url)
        else:
            urls.append(os.path.normpath(os.path.join(base, url)))
    return urls


def find_index(source: str | os.PathLike[str]) -> str | None:
    """Return the shard index of an output folder, a shards folder or an index file.

    Returns ``None`` when ``source`` is a folder without ``index.json``.
    """
    path = os.fspath(source)
    if os.path.isfile(path) and path.endswith(".json"):
        return path
    for candidate in (os.path.join(path, "shards", INDEX_FILE), os.path.join(path, INDEX_FILE)):
        if os.path.isfile(candidate):
            return candidate
    return None


def shard_urls(source: ShardSource) -> list[str] | str:
    """Resolve ``source`` to the shard URLs that webdataset reads.

    A folder with a shard index (``OUT/shards/index.json`` or
    ``SHARDS/index.json``) gives the shards of the index in its order. A
    folder without one gives its ``shards/*.tar`` or ``*.tar`` files in name
    order. An index file gives its shards. Any other string (a URL or a
    brace pattern such as ``shards/shard-{000000..000009}.tar``) is returned
    unchanged, and a sequence is returned as a list of strings.

    Raises:
        FileNotFoundError: a folder contains no shards.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        index = find_index(path)
        if index is not None:
            return _index_urls(index)
        if os.path.isdir(path):
            for pattern in (os.path.join(path, "shards", "*.tar"), os.path.join(path, "*.tar")):
                found = sorted(glob.glob(pattern))
                if found:
                    return found
            raise FileNotFoundError(f"{path}: no shards/index.json and no .tar shards found")
        return path
    return [os.fspath(url) for url in source]


def decode_sample(sample: dict[str, Any], tensor: TensorType = "torch") -> tuple[Any, dict[str, Any]]:
    """Turn a WebDataset sample of a Hounsfield shard into ``(tensor, metadata)``.

    ``sample`` maps member extensions (``npy``, ``json``, with or without the
    leading dot that wids keeps) to bytes or binary file objects. The tensor
    is float32 ``(C, H, W)``; the metadata is the sample's JSON.
    """
    npy = _member(sample, "npy")
    metadata = json.loads(_member(sample, "json"))
    array = np.load(io.BytesIO(npy), allow_pickle=False)
    if tensor == "torch":
        import torch

        return torch.from_numpy(array), metadata
    if tensor == "numpy":
        return array, metadata
    raise ValueError(f"tensor is `{tensor}`, expected `torch` or `numpy`")


def _member(sample: dict[str, Any], extension: str) -> bytes:
    for name in (extension, "." + extension):
        if name in sample:
            value = sample[name]
            return value.read() if hasattr(value, "read") else bytes(value)
    key = sample.get("__key__", "?")
    raise KeyError(f"sample {key} has no .{extension} member")


def dataset(
    source: ShardSource,
    *,
    tensor: TensorType = "torch",
    shuffle: int = 0,
    shard_shuffle: int | bool = False,
    split_by_node: bool = True,
    seed: int | None = None,
    **webdataset_options: Any,
) -> webdataset.WebDataset:
    """Stream the samples of Hounsfield shards as ``(tensor, metadata)`` pairs.

    This is a ``webdataset.WebDataset`` with a decoding step, so the usual
    WebDataset methods (``.batched``, ``.map``, ``.with_epoch``) work on it.
    Shards are split between DataLoader workers, and between the ranks of a
    ``torch.distributed`` job unless ``split_by_node`` is false. webdataset
    also reads the ``RANK``/``WORLD_SIZE`` and ``WORKER``/``NUM_WORKERS``
    environment variables. Every worker gets whole shards, so give at least
    as many shards as workers.

    Args:
        source: see :func:`shard_urls`.
        tensor: ``"torch"`` for ``torch.Tensor`` (needs torch) or ``"numpy"``.
        shuffle: size of the sample shuffle buffer; 0 keeps shard order.
        shard_shuffle: size of the shard shuffle buffer; ``False`` or 0 keeps
            the index order.
        split_by_node: split shards by ``torch.distributed`` rank.
        seed: seed of the shuffles.
        **webdataset_options: passed on to ``webdataset.WebDataset``.
    """
    import webdataset as wds

    if tensor not in ("torch", "numpy"):
        raise ValueError(f"tensor is `{tensor}`, expected `torch` or `numpy`")
    pipeline = wds.WebDataset(
        shard_urls(source),
        shardshuffle=shard_shuffle if shard_shuffle else False,
        nodesplitter=wds.split_by_node if split_by_node else wds.single_node_only,
        workersplitter=wds.split_by_worker,
        empty_check=False,
        seed=seed,
        **webdataset_options,
    )
    if shuffle:
        pipeline = pipeline.shuffle(shuffle)
    return pipeline.map(_Decoder(tensor))


class _Decoder:
    """A picklable decoding step, so that DataLoader workers can start with spawn."""

    def __init__(self, tensor: TensorType) -> None:
        self.tensor = tensor

    def __call__(self, sample: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return decode_sample(sample, self.tensor)


def indexed_dataset(
    source: str | os.PathLike[str],
    *,
    tensor: TensorType = "torch",
    cache_dir: str | None = None,
) -> Any:
    """Open the shards of an output folder for random access with ``wids``.

    Reads ``shards/index.json`` (written by ``hounsfield convert`` and
    ``hounsfield finalize``) into a ``wids.ShardListDataset`` whose items are
    ``(tensor, metadata)`` pairs. ``len()`` is the number of samples and
    ``dataset[i]`` the ``i``-th in index order. Local shards are read in
    place; remote ones are downloaded to ``cache_dir``.

    Needs the ``wids`` package, which imports torch.

    Raises:
        FileNotFoundError: there is no shard index.
    """
    import wids

    index = find_index(source)
    if index is None:
        raise FileNotFoundError(f"{os.fspath(source)}: no shards/index.json found")
    urls = _index_urls(index)
    options: dict[str, Any] = {}
    if cache_dir is not None:
        options["cache_dir"] = cache_dir
    elif all(os.path.isfile(url) for url in urls):
        options["localname"] = _same_path
    return wids.ShardListDataset(index, transformations=[_Decoder(tensor)], **options)


def _same_path(url: str) -> str:
    return url


def collate(
    batch: Sequence[tuple[Any, dict[str, Any]]],
) -> tuple[Any, list[dict[str, Any]]]:
    """Stack the tensors of a batch and keep the metadata as a list.

    Use it as ``collate_fn`` of a DataLoader or ``collation_fn`` of
    ``.batched``: the default collation fails on metadata whose lists differ
    in length between samples. Tensors must have one shape.
    """
    tensors = [item[0] for item in batch]
    metadata = [item[1] for item in batch]
    if tensors and isinstance(tensors[0], np.ndarray):
        return np.stack(tensors), metadata
    import torch

    return torch.stack(tensors), metadata


__all__ = [
    "INDEX_FILE",
    "ShardSource",
    "TensorType",
    "collate",
    "dataset",
    "decode_sample",
    "find_index",
    "indexed_dataset",
    "shard_urls",
]
