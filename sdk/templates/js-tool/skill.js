// A minimal hyper tool skill in JavaScript: echoes its input. `hyper skill new NAME --task
// TASK --lang js` starts from this. The forge calls `call` once per case of the task's
// suite, each in a fresh sandbox, and scores the outputs. `input` is a Uint8Array; refuse an
// input by throwing `{ tag: "invalid-params", val: "why" }` (any error case of the WIT).

const MAX_INPUT = 16 << 20;

export const tool = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      task: "{{task}}",
      description: "echoes its input (JavaScript template)",
    };
  },

  call(input) {
    if (input.length > MAX_INPUT) {
      throw { tag: "invalid-params", val: "input larger than 16 MiB" };
    }
    return input;
  },
};
