// A strict pickle interpreter for the opcodes torch.save emits (protocol 2, plus the protocol 3-4
// opcodes a newer writer may use), and a protocol-2 writer.
//
// No Python code runs: a GLOBAL names a callable, and REDUCE/NEWOBJ hand the name and arguments to
// the host (torch_checkpoint.ts), which builds tensors; every other call becomes an opaque PyObject
// {global, args, state} so optimizer or scheduler state (collections.Counter, torch.device,
// argparse.Namespace) never breaks loading. An unknown opcode, a stack underflow, a missing MARK or
// memo entry is an error naming the file, opcode and offset.

/** A Python tuple (arrays are lists). */
export class PyTuple { constructor(readonly items: PyValue[]) {} }
/** A Python dict or collections.OrderedDict; `attrs` holds instance attributes set by BUILD (a state dict's `_metadata`). */
export class PyDict extends Map<PyValue, PyValue> {
  ordered = false;
  attrs: Map<string, PyValue> | null = null;
}
/** A reference to a module-level name, e.g. `torch.float32` or a class, not called. */
export class PyGlobal { constructor(readonly global: string) {} }
/** The result of calling a global the host does not know: kept as data, never executed. */
export class PyObject {
  /** Items added by SETITEM(S) or APPEND(S) after construction (collections.defaultdict, set subclasses). */
  dictItems: PyDict | null = null;
  listItems: PyValue[] | null = null;
  /** The BUILD state, if any. */
  state: PyValue | undefined = undefined;
  constructor(readonly global: string, readonly args: PyValue[]) {}
}
/** Writer only: forces a Python float for an integral number (1.0 rather than 1). */
export class PyFloat { constructor(readonly value: number) {} }
/** Writer only: emitted as BINPERSID of `pid` (torch's storage references). */
export class PyPersistent { constructor(readonly pid: PyValue) {} }
/** A value built by the host (a tensor, a storage). */
export interface PyHostValue { readonly hostKind: string }

export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | PyTuple | PyDict
  | PyGlobal | PyObject | PyFloat | PyPersistent | PyHostValue;

export interface UnpickleHost {
  /** Builds the result of calling `global` with `args`, or returns undefined for the default handling. */
  call?(global: string, args: PyValue[]): PyValue | undefined;
  /** Resolves a BINPERSID id. */
  persistentLoad(pid: PyValue): PyValue;
}

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

/** Interprets `bytes` as a pickle; `what` names the file (and entry) in errors. */
export function unpickle(bytes: Uint8Array, what: string, host: UnpickleHost): PyValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Slot[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;
  let op = 0;
  let opAt = 0;
  const fail = (msg: string): never => { throw new Error(`${what}: pickle opcode 0x${op.toString(16).padStart(2, '0')} at offset ${opAt}: ${msg}`); };
  const need = (n: number): number => {
    if (n < 0) fail(`negative length ${n}`);
    if (pos + n > bytes.byteLength) fail(`needs ${n} bytes, the pickle ends at ${bytes.byteLength} (truncated?)`);
    const at = pos;
    pos += n;
    return at;
  };
  const utf8 = (n: number): string => {
    const at = need(n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at, at + n));
    } catch {
      return fail(`string of ${n} bytes is not valid UTF-8`);
    }
  };
  const latin1 = (n: number): string => {
    const at = need(n);
    let s = '';
    for (let i = at; i < at + n; i += 8192) s += String.fromCharCode(...bytes.subarray(i, Math.min(i + 8192, at + n)));
    return s;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text argument');
    const s = new TextDecoder().decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK on the stack');
    const items = stack.splice(m! + 1) as PyValue[];
    stack.pop(); // the MARK itself
    return items;
  };
  const tupleItems = (v: PyValue): PyValue[] => (v instanceof PyTuple ? v.items : fail(`expected a tuple of arguments, got ${describe(v)}`));
  const call = (fn: PyValue, args: PyValue[]): PyValue => {
    if (!(fn instanceof PyGlobal)) fail(`cannot call ${describe(fn)}`);
    const name = (fn as PyGlobal).global;
    const built = host.call?.(name, args);
    if (built !== undefined) return built;
    if (name === 'collections.OrderedDict' || name === 'builtins.dict' || name === '__builtin__.dict') {
      const d = new PyDict();
      d.ordered = name === 'collections.OrderedDict';
      for (const pair of args.length ? toList(args[0]!) : []) {
        const kv = pair instanceof PyTuple ? pair.items : Array.isArray(pair) ? pair : [];
        if (kv.length !== 2) fail(`${name} expects (key, value) pairs`);
        d.set(kv[0]!, kv[1]!);
      }
      return d;
    }
    if (name === '_codecs.encode' && typeof args[0] === 'string' && (args[1] === 'latin1' || args[1] === 'latin-1')) {
      // Python 3 bytes pickled at protocol 2.
      return Uint8Array.from(args[0], (c) => c.charCodeAt(0));
    }
    if ((name === 'copy_reg._reconstructor' || name === 'copyreg._reconstructor') && args[0] instanceof PyGlobal) {
      return new PyObject(args[0].global, []);
    }
    return new PyObject(name, args);
  };
  const toList = (v: PyValue): PyValue[] => (Array.isArray(v) ? v : v instanceof PyTuple ? v.items : fail(`expected a list, got ${describe(v)}`));
  const setItems = (target: PyValue, items: PyValue[]): void => {
    if (items.length % 2) fail('odd number of items for SETITEMS');
    let d: PyDict;
    if (target instanceof PyDict) d = target;
    else if (target instanceof PyObject) d = target.dictItems ??= new PyDict();
    else return fail(`cannot set items on ${describe(target)}`);
    for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
  };
  const append = (target: PyValue, items: PyValue[]): void => {
    // one by one: spreading a long APPENDS into push() would overflow the call stack
    const list = Array.isArray(target) ? target : target instanceof PyObject ? (target.listItems ??= []) : fail(`cannot append to ${describe(target)}`);
    for (const item of items) list.push(item);
  };

  while (pos < bytes.byteLength) {
    opAt = pos;
    op = bytes[pos++]!;
    switch (op) {
      case 0x80: need(1); break; // PROTO: any protocol; unsupported opcodes fail on their own
      case 0x95: need(8); break; // FRAME: framing is only a hint for buffered readers
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length) fail(`STOP with ${stack.length} values and ${marks.length} marks on the stack`);
        return pop();
      }
      case 0x28: marks.push(stack.length); stack.push(MARK); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(bytes[need(1)]!); break; // BININT1
      case 0x4d: stack.push(view.getUint16(need(2), true)); break; // BININT2
      case 0x8a: { const n = bytes[need(1)]!; stack.push(decodeLong(bytes.subarray(need(n), pos))); break; } // LONG1
      case 0x8b: { const n = view.getInt32(need(4), true); if (n < 0) fail('negative LONG4 length'); stack.push(decodeLong(bytes.subarray(need(n), pos))); break; }
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x58: stack.push(utf8(view.getUint32(need(4), true))); break; // BINUNICODE
      case 0x8c: stack.push(utf8(bytes[need(1)]!)); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8(Number(view.getBigUint64(need(8), true)))); break; // BINUNICODE8
      case 0x54: stack.push(latin1(view.getInt32(need(4), true))); break; // BINSTRING (Python 2 str)
      case 0x55: stack.push(latin1(bytes[need(1)]!)); break; // SHORT_BINSTRING
      case 0x42: { const n = view.getUint32(need(4), true); stack.push(bytes.slice(need(n), pos)); break; } // BINBYTES
      case 0x43: { const n = bytes[need(1)]!; stack.push(bytes.slice(need(n), pos)); break; } // SHORT_BINBYTES
      case 0x8e: { const n = Number(view.getBigUint64(need(8), true)); stack.push(bytes.slice(need(n), pos)); break; } // BINBYTES8
      case 0x7d: stack.push(new PyDict()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x74: stack.push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: { const a = pop(); stack.push(new PyTuple([a])); break; } // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { const d = new PyDict(); setItems(d, popMark()); stack.push(d); break; } // DICT
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x71: memo.set(bytes[need(1)]!, top()); break; // BINPUT
      case 0x72: memo.set(view.getUint32(need(4), true), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const i = op === 0x68 ? bytes[need(1)]! : view.getUint32(need(4), true);
        if (!memo.has(i)) fail(`memo entry ${i} was never stored`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: { const mod = line(); stack.push(new PyGlobal(`${mod}.${line()}`)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(); const mod = pop();
        if (typeof mod !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(new PyGlobal(`${mod}.${name}`));
        break;
      }
      case 0x52: { const args = tupleItems(pop()); const fn = pop(); stack.push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = tupleItems(pop()); const cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ
      case 0x51: stack.push(host.persistentLoad(pop())); break; // BINPERSID
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) {
          // OrderedDict's instance __dict__ (a state dict's _metadata); (dict, slots) tuples merge both.
          const parts = state instanceof PyTuple ? state.items : [state];
          for (const part of parts) {
            if (part === null) continue;
            if (!(part instanceof PyDict)) fail(`BUILD state for a dict must be a dict, got ${describe(part)}`);
            for (const [k, v] of part as PyDict) (obj.attrs ??= new Map()).set(String(k), v);
          }
        } else if (obj instanceof PyObject) {
          obj.state = state;
        } else if (obj !== null && typeof obj === 'object' && 'hostKind' in obj) {
          // A tensor's BUILD state (Python attributes set on it) carries nothing the engine uses.
        } else {
          fail(`BUILD on ${describe(obj)}`);
        }
        break;
      }
      default: fail('unknown or unsupported opcode');
    }
  }
  opAt = pos;
  return fail('the pickle ends without STOP (truncated?)');
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function decodeLong(b: Uint8Array): number | bigint {
  // little-endian two's complement; through one hex string (linear: shifting a BigInt byte by
  // byte is quadratic in the length, and LONG4 allows 2 GB)
  let hex = '';
  for (let i = b.length - 1; i >= 0; i--) hex += HEX_BYTE[b[i]!]!;
  let v = b.length ? BigInt(`0x${hex}`) : 0n;
  if (b.length && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof PyDict) return v.ordered ? 'an OrderedDict' : 'a dict';
  if (v instanceof PyGlobal) return `global ${v.global}`;
  if (v instanceof PyObject) return `a ${v.global} object`;
  if (typeof v === 'object' && 'hostKind' in v) return `a ${(v as PyHostValue).hostKind}`;
  return typeof v;
}

// ---- writer (protocol 2)

export interface PickleWriteOptions {
  /** Lets the host write a value of its own (a tensor) as other Python values; undefined = not handled. */
  replace?(v: PyValue): PyValue | undefined;
}

/** Serialises `value` as a protocol-2 pickle. Maps become OrderedDicts, plain objects dicts. */
export function encodePickle(value: PyValue | Record<string, unknown>, opts: PickleWriteOptions = {}): Uint8Array {
  let buf = new Uint8Array(1 << 16);
  let len = 0;
  const reserve = (n: number): DataView => {
    if (len + n > buf.byteLength) {
      const next = new Uint8Array(Math.max(buf.byteLength * 2, len + n));
      next.set(buf.subarray(0, len));
      buf = next;
    }
    const v = new DataView(buf.buffer, len, n);
    len += n;
    return v;
  };
  const byte = (b: number): void => { reserve(1).setUint8(0, b); };
  const raw = (b: Uint8Array): void => { reserve(b.byteLength); buf.set(b, len - b.byteLength); };
  const memoGlobals = new Map<string, number>();
  const visiting = new Set<object>();

  const writeGlobal = (name: string): void => {
    const m = memoGlobals.get(name);
    if (m !== undefined) { writeGet(m); return; }
    const dot = name.lastIndexOf('.');
    if (dot <= 0) throw new Error(`pickle: global name '${name}' needs a module`);
    byte(0x63);
    raw(new TextEncoder().encode(`${name.slice(0, dot)}\n${name.slice(dot + 1)}\n`));
    const idx = memoGlobals.size;
    memoGlobals.set(name, idx);
    if (idx < 256) { const v = reserve(2); v.setUint8(0, 0x71); v.setUint8(1, idx); } else { const v = reserve(5); v.setUint8(0, 0x72); v.setUint32(1, idx, true); }
  };
  const writeGet = (idx: number): void => {
    if (idx < 256) { const v = reserve(2); v.setUint8(0, 0x68); v.setUint8(1, idx); } else { const v = reserve(5); v.setUint8(0, 0x6a); v.setUint32(1, idx, true); }
  };
  const writeInt = (n: number | bigint): void => {
    const b = BigInt(n);
    if (b >= 0n && b < 256n) { const v = reserve(2); v.setUint8(0, 0x4b); v.setUint8(1, Number(b)); return; }
    if (b >= 0n && b < 65536n) { const v = reserve(3); v.setUint8(0, 0x4d); v.setUint16(1, Number(b), true); return; }
    if (b >= -(2n ** 31n) && b < 2n ** 31n) { const v = reserve(5); v.setUint8(0, 0x4a); v.setInt32(1, Number(b), true); return; }
    const out: number[] = [];
    let x = b;
    // Two's complement, little-endian, shortest form that keeps the sign.
    for (;;) {
      out.push(Number(x & 0xffn));
      x >>= 8n;
      if ((x === 0n && !(out[out.length - 1]! & 0x80)) || (x === -1n && out[out.length - 1]! & 0x80)) break;
    }
    byte(0x8a); byte(out.length); raw(Uint8Array.from(out));
  };
  const writeFloat = (x: number): void => { const v = reserve(9); v.setUint8(0, 0x47); v.setFloat64(1, x, false); };
  const writeStr = (s: string): void => {
    const b = new TextEncoder().encode(s);
    const v = reserve(5); v.setUint8(0, 0x58); v.setUint32(1, b.byteLength, true);
    raw(b);
  };
  const writeItems = (entries: Iterable<[PyValue, PyValue]>): void => {
    let n = 0;
    for (const [k, v] of entries) {
      if (n % 1000 === 0) { if (n) byte(0x75); byte(0x28); }
      checkKey(k);
      write(k); write(v);
      n++;
    }
    if (n) byte(0x75); // SETITEMS
  };
  const writeAppends = (items: PyValue[]): void => {
    for (let i = 0; i < items.length; i += 1000) {
      byte(0x28);
      for (const v of items.slice(i, i + 1000)) write(v);
      byte(0x65); // APPENDS
    }
  };
  const writeTuple = (items: PyValue[]): void => {
    if (items.length === 0) { byte(0x29); return; }
    if (items.length > 3) byte(0x28);
    for (const v of items) write(v);
    byte(items.length === 1 ? 0x85 : items.length === 2 ? 0x86 : items.length === 3 ? 0x87 : 0x74);
  };

  const write = (v: PyValue): void => {
    if (v === null || v === undefined) { byte(0x4e); return; }
    if (v === true) { byte(0x88); return; }
    if (v === false) { byte(0x89); return; }
    if (typeof v === 'number') {
      if (Number.isInteger(v) && !Object.is(v, -0) && Number.isSafeInteger(v)) writeInt(v); else writeFloat(v);
      return;
    }
    if (typeof v === 'bigint') { writeInt(v); return; }
    if (typeof v === 'string') { writeStr(v); return; }
    if (typeof v !== 'object') throw new Error(`pickle: cannot write a ${typeof v}`);
    const replaced = opts.replace?.(v);
    if (replaced !== undefined) { write(replaced); return; }
    if (visiting.has(v)) throw new Error('pickle: the value contains a cycle');
    visiting.add(v);
    if (v instanceof PyFloat) writeFloat(v.value);
    else if (v instanceof PyPersistent) { write(v.pid); byte(0x51); }
    else if (v instanceof PyGlobal) writeGlobal(v.global);
    else if (v instanceof PyTuple) writeTuple(v.items);
    else if (Array.isArray(v)) { byte(0x5d); writeAppends(v); }
    else if (v instanceof Uint8Array) {
      // Python 3 bytes at protocol 2: _codecs.encode(latin-1 text, 'latin1'), as pickle itself does.
      writeGlobal('_codecs.encode');
      let s = '';
      for (let i = 0; i < v.length; i += 8192) s += String.fromCharCode(...v.subarray(i, i + 8192));
      writeTuple([s, 'latin1']);
      byte(0x52);
    } else if (v instanceof Map) {
      const ordered = !(v instanceof PyDict) || v.ordered;
      if (ordered) { writeGlobal('collections.OrderedDict'); byte(0x29); byte(0x52); } else byte(0x7d);
      writeItems(v.entries());
      const attrs = v instanceof PyDict ? v.attrs : null;
      if (attrs?.size) {
        if (!ordered) throw new Error('pickle: a plain dict cannot carry attributes; mark it ordered');
        byte(0x7d);
        writeItems(attrs.entries());
        byte(0x62); // BUILD
      }
    } else if (v instanceof PyObject) {
      writeGlobal(v.global);
      writeTuple(v.args);
      byte(0x52);
      if (v.listItems) writeAppends(v.listItems);
      if (v.dictItems) writeItems(v.dictItems.entries());
      if (v.state !== undefined) { write(v.state); byte(0x62); }
    } else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      byte(0x7d);
      writeItems(Object.entries(v) as [PyValue, PyValue][]);
    } else {
      throw new Error(`pickle: cannot write ${describe(v)} (${v.constructor?.name ?? 'unknown class'})`);
    }
    visiting.delete(v);
  };

  byte(0x80); byte(2); // PROTO 2
  write(value as PyValue);
  byte(0x2e); // STOP
  return buf.slice(0, len);
}

function checkKey(k: PyValue): void {
  const ok = k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k) || k instanceof PyTuple || k instanceof PyFloat;
  if (!ok) throw new Error(`pickle: ${describe(k)} cannot be a dict key (Python keys must be hashable)`);
}
