"""A minimal hyper research skill in Python: ranks the shortest documents of the domain's data
first, whatever the query. `hyper skill build` runs componentize-py on it."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.experiment import SkillInfo
from wit_world.imports import log
from wit_world.imports.types import (
    Artifact,
    Error_Data,
    Error_InvalidParams,
    IntRange,
    ParamKind_Int,
    ParamSpec,
    ParamValue_Int,
)

QUERIES = 225


class Experiment(exports.Experiment):
    def describe(self) -> SkillInfo:
        return SkillInfo(
            name="{{name}}",
            version="0.1.0",
            domain="{{domain}}",
            description="ranks the shortest documents first (Python template)",
            params=[
                ParamSpec(
                    name="depth",
                    description="documents returned per query",
                    kind=ParamKind_Int(IntRange(min=1, max=100, default=10)),
                )
            ],
        )

    def run(self, spec) -> Artifact:
        depth = 10
        for p in spec.params:
            if p.name == "depth" and isinstance(p.value, ParamValue_Int):
                depth = p.value.value
        if not 1 <= depth <= 100:
            raise Err(Error_InvalidParams("depth must be 1..100"))
        # The domain's data is mounted read-only at /data.
        try:
            with open("/data/cran.all.1400", "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError as e:
            raise Err(Error_Data(f"cannot read /data/cran.all.1400: {e}"))
        docs = []
        for chunk in text.split(".I ")[1:]:
            docs.append((len(chunk), int(chunk.split("\n", 1)[0].strip())))
        docs.sort()
        lines = [
            f"{q}\t{doc}\t{rank + 1}\t{depth - rank}"
            for q in range(1, QUERIES + 1)
            for rank, (_, doc) in enumerate(docs[:depth])
        ]
        log.log(log.Level.INFO, f"ranked {len(docs)} documents")
        return Artifact(
            media_type="text/tab-separated-values; profile=trec-run",
            bytes=("\n".join(lines) + "\n").encode(),
        )
