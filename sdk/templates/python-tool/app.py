"""A minimal hyper tool skill in Python: echoes its input. `hyper skill new NAME --task TASK
--lang python` starts from this. The forge calls `call` once per case of the task's suite,
each in a fresh sandbox, and scores the outputs; refuse an input by raising an `Err`."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.tool import ToolInfo
from wit_world.imports.types import Error_InvalidParams

MAX_INPUT = 16 << 20


class Tool(exports.Tool):
    def describe(self) -> ToolInfo:
        return ToolInfo(
            name="{{name}}",
            version="0.1.0",
            task="{{task}}",
            description="echoes its input (Python template)",
        )

    def call(self, input: bytes) -> bytes:
        if len(input) > MAX_INPUT:
            raise Err(Error_InvalidParams("input larger than 16 MiB"))
        return input
