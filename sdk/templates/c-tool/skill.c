// A minimal hyper tool skill in C: echoes its input. `hyper skill new NAME --task TASK
// --lang c` starts from this; `hyper skill build` generates `bindings/` (wit-bindgen-c),
// compiles with clang for wasm32-wasi and adapts the module into a component. The forge
// calls `call` once per case of the task's suite, each in a fresh sandbox; refuse an input
// by filling `err` and returning false.
#include <stdlib.h>
#include <string.h>

#include "tool_skill.h"

#define MAX_INPUT (16u << 20)

void exports_hyper_research_tool_describe(exports_hyper_research_tool_tool_info_t *ret) {
    tool_skill_string_dup(&ret->name, "{{name}}");
    tool_skill_string_dup(&ret->version, "0.1.0");
    tool_skill_string_dup(&ret->task, "{{task}}");
    tool_skill_string_dup(&ret->description, "echoes its input (C template)");
}

bool exports_hyper_research_tool_call(tool_skill_list_u8_t *input, tool_skill_list_u8_t *ret,
                                      exports_hyper_research_tool_error_t *err) {
    if (input->len > MAX_INPUT) {
        tool_skill_list_u8_free(input);
        err->tag = HYPER_RESEARCH_TYPES_ERROR_INVALID_PARAMS;
        tool_skill_string_dup(&err->val.invalid_params, "input larger than 16 MiB");
        return false;
    }
    // The input's buffer is ours: hand it back as the output instead of copying it.
    *ret = *input;
    return true;
}
