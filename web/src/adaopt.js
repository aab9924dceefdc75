// adaopt.js -- loads adaopt.wasm (the C library and the labs' problems and trace loop, compiled
// from the same sources as the `adaopt` program) and wraps its sessions.
const WASI_ERRNO_BADF = 8;

export async function loadAdaopt(url) {
  const bytes = await (await fetch(url)).arrayBuffer();
  let memory = null;
  // The module imports three WASI calls that stdio would use; nothing here writes a file, so
  // they are stubs (fd_write reports the bytes as written and drops them).
  const wasi = {
    fd_write: (fd, iovs, n, written) => {
      const view = new DataView(memory.buffer);
      let total = 0;
      for (let i = 0; i < n; i++) total += view.getUint32(iovs + 8 * i + 4, true);
      view.setUint32(written, total, true);
      return 0;
    },
    fd_close: () => 0,
    fd_seek: () => WASI_ERRNO_BADF,
  };
  const { instance } = await WebAssembly.instantiate(bytes, { wasi_snapshot_preview1: wasi });
  const w = instance.exports;
  memory = w.memory;
  w._initialize();

  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const cstring = (ptr) => {
    const heap = new Uint8Array(memory.buffer);
    let end = ptr;
    while (heap[end] !== 0) end++;
    return decoder.decode(heap.subarray(ptr, end));
  };

  class Session {
    // args: `adaopt trace`'s flags, e.g. "--problem rosenbrock --optimizer adam --lr 0.05".
    constructor(args) {
      const text = encoder.encode(args + '\0');
      const argp = w.wa_alloc(text.length);
      const errp = w.wa_alloc(256);
      new Uint8Array(memory.buffer, argp, text.length).set(text);
      new Uint8Array(memory.buffer, errp, 1)[0] = 0;
      this.ptr = w.wa_session_new(argp, errp, 256);
      const error = cstring(errp);
      w.wa_free(argp);
      w.wa_free(errp);
      if (this.ptr === 0) throw new Error(error || 'session refused');
      this.dim = w.wa_session_dim(this.ptr);
    }
    step(n = 1) {
      if (w.wa_session_step(this.ptr, n) !== 0) throw new Error(cstring(w.wa_session_error(this.ptr)));
    }
    get steps() { return w.wa_session_steps(this.ptr); }
    get loss() { return w.wa_session_loss(this.ptr); }
    get x() { return Array.from(new Float32Array(memory.buffer, w.wa_session_x(this.ptr), this.dim)); }
    get effectiveLr() {
      return Array.from(new Float32Array(memory.buffer, w.wa_session_effective_lr(this.ptr), this.dim));
    }
    lossAt(x, y) { return w.wa_session_loss_at(this.ptr, x, y); }
    free() { if (this.ptr) w.wa_session_free(this.ptr); this.ptr = 0; }
  }
  return { Session };
}
