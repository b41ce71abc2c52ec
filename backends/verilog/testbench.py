"""Verification of emitted RTL: `rnnc verify`.

The fixed-point interpreter runs a batch of sequences and records what the
hardware must stream in and out; a self-checking testbench feeds them to the RTL
in iverilog or Verilator and compares every output word and the cycle counts.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from rnnc.backends import progress
from rnnc.backends.interpreter.float_interpreter import Interpreter, main_function
from rnnc.backends.interpreter.fxp_interpreter import _COUNTER, OverflowCounter
from rnnc.backends.interpreter.signature import free_dims, signature
from rnnc.backends.verilog import simulate
from rnnc.backends.verilog.emit import Emitted, emit_verilog
from rnnc.dialects.arrays import numpy_dtype
from rnnc.dialects.errors import RnncError
from rnnc.passes.fxp_to_hw.datapath import TOP
from rnnc.passes.fxp_to_hw.plan import plan_hardware
from rnnc.passes.fxp_to_hw.plan_view import HardwarePlan
from rnnc.passes.fxp_to_hw.weight_stream import STREAM_FILE, check_bandwidth

TESTBENCH = "rnnc_tb"


# ------------------------------------------------------------------ reference


@dataclass
class Expected:
    """Per sequence: raw input stream words (the loaded states, then the
    input), length, raw output words (interpreter)."""

    inputs: np.ndarray  # (N, S + T·I)
    lengths: np.ndarray  # (N,)
    outputs: np.ndarray  # (N, total output elements)
    overflows: list[str] = field(default_factory=list)


def reference(
    module: ModuleOp,
    plan: HardwarePlan,
    inputs: list[np.ndarray],
    counter: OverflowCounter | None = None,
) -> Expected:
    """Run the fixed-point interpreter and pick what crosses the hardware ports
    (overflows counted in `counter`, shared by the batches of one run)."""
    fn = main_function(module)
    host = plan.host
    wanted = {host.input_value, *host.outputs, *host.states}
    if host.seq_len is not None:
        wanted.add(host.seq_len)
    seen: dict = {
        arg: np.asarray(x)
        for arg, x in zip(fn.body.block.args, inputs, strict=False)
        if arg in wanted
    }

    def observe(op, results):
        for r, v in zip(op.results, results, strict=False):
            if r in wanted and r.owner.parent_op() is fn:
                seen[r] = np.asarray(v)

    counter = counter if counter is not None else OverflowCounter()
    token = _COUNTER.set(counter)
    try:
        Interpreter(observe).run_function(fn, inputs)
    finally:
        _COUNTER.reset(token)
    x = seen[host.input_value]  # (T, B, I)
    batch = x.shape[1]
    ins = np.transpose(x, (1, 0, 2)).reshape(batch, -1)
    states = [np.asarray(seen[v]).reshape(batch, -1) for v in host.states]
    ins = np.concatenate([*states, ins], axis=1).astype(np.int64)
    lengths = (
        np.asarray(seen[host.seq_len], np.int64).reshape(batch)
        if host.seq_len is not None
        else np.full(batch, x.shape[0], np.int64)
    )
    outs = np.stack(
        [
            np.concatenate(
                [
                    o.of_sequence(seen[value], b)
                    for o, value in zip(plan.outputs, host.outputs, strict=True)
                ]
            )
            for b in range(batch)
        ]
    ).astype(np.int64)
    return Expected(ins, lengths, outs, counter.report())


# ------------------------------------------------------------------ testbench


def _hex_lines(values: np.ndarray, width: int) -> str:
    digits = max((width + 3) // 4, 1)
    mask = (1 << width) - 1
    return "".join(f"{int(v) & mask:0{digits}x}\n" for v in np.asarray(values).ravel())


def _weight_memory(emitted: Emitted, bandwidth: tuple[int, int]) -> tuple[str, str]:
    """The testbench's model of the weight memory (nothing without a weight
    stream): it sends weight_stream.hex's segments in order, each `repeats`
    times, a sequence after another, valid on the first `valid` of every
    `period` cycles `weight_ready` is high (counted from each sequence's first
    word), and prints `STALLS s n` (cycles ready and not valid) at the end of
    sequence s's words. Returns (port connections, module body)."""
    stream = emitted.design.stream
    if stream is None:
        return "", ""
    valid, period = bandwidth
    check_bandwidth(valid, period)
    segs = stream.segments

    def function(name: str, values: list[int]) -> str:
        cases = "".join(f"      {i}: {name} = {v};\n" for i, v in enumerate(values))
        return (
            f"  function integer {name}(input integer s);\n    case (s)\n{cases}"
            f"      default: {name} = 0;\n    endcase\n  endfunction\n"
        )

    ports = (
        ",\n  .weight_valid(weight_valid), .weight_data(weight_data), "
        ".weight_ready(weight_ready)"
    )
    body = f"""
  // The weight memory: {stream.words_per_sequence} words per sequence, valid on
  // {valid} of every {period} cycles the design is ready.
  reg [{stream.word_width - 1}:0] weights [0:{len(stream.fields) - 1}];
  wire weight_ready;
  integer w_seg = 0, w_rep = 0, w_pos = 0, w_phase = 0, w_seq = 0, w_stalls = 0;
{function("seg_first", [s.first_word for s in segs])}\
{function("seg_words", [s.words for s in segs])}\
{function("seg_repeats", [s.repeats for s in segs])}\
  wire weight_valid = w_phase < {valid};
  wire [{stream.word_width - 1}:0] weight_data = weights[seg_first(w_seg) + w_pos];
  wire w_seg_end = w_pos + 1 == seg_words(w_seg);
  wire w_rep_end = w_rep + 1 == seg_repeats(w_seg);
  wire w_seq_end = w_seg_end && w_rep_end && w_seg + 1 == {len(segs)};
  initial $readmemh("{STREAM_FILE}", weights);
  always @(posedge clk)
    if (!rst && weight_ready) begin
      if (weight_valid) begin
        w_pos <= w_seg_end ? 0 : w_pos + 1;
        if (w_seg_end) w_rep <= w_rep_end ? 0 : w_rep + 1;
        if (w_seg_end && w_rep_end) w_seg <= w_seq_end ? 0 : w_seg + 1;
      end else
        w_stalls <= w_stalls + 1;
      if (weight_valid && w_seq_end) begin
        $display("STALLS %0d %0d", w_seq, w_stalls);
        w_seq <= w_seq + 1;
        w_stalls <= 0;
        w_phase <= 0;
      end else
        w_phase <= w_phase + 1 == {period} ? 0 : w_phase + 1;
    end
"""
    return ports, body


def testbench(
    emitted: Emitted,
    sequences: int,
    seed: int = 1,
    bandwidth: tuple[int, int] = (1, 1),
) -> str:
    """A self-checking testbench: streams tb_in.hex, checks against tb_out.hex.

    Inputs stream back to back (the next sequence loads while one computes);
    outputs are accepted with a pseudo-random `out_ready` to exercise the
    handshake; every word received is written to tb_got.hex. Prints one
    `SEQ s cycles c` line per sequence (from when it could
    start, i.e. its last input beat or the previous sequence's last output word,
    to its first valid output word) and `DONE errors=e words=w`. A design with
    a weight stream gets it from a memory model of `bandwidth` (valid, period)
    (`_weight_memory`).
    """
    d, plan = emitted.design, emitted.plan
    weight_ports, weight_memory = _weight_memory(emitted, bandwidth)
    words_in = plan.preamble_words + plan.steps * plan.input_size
    words_out = sum(sum(r.length for r in o.runs) for o in plan.outputs)
    lw = max(d.seq_len_width, 1)
    seq_port = "  .seq_len(seq_len),\n" if d.seq_len_width else ""
    return f"""`timescale 1ns/1ps
module {TESTBENCH};
  reg clk = 0;
  always #5 clk = ~clk;
  reg rst = 1;
  reg in_valid = 0;
  reg [{d.input_width - 1}:0] in_data = 0;
  reg [{lw - 1}:0] seq_len = 0;
  reg out_ready = 0;
  wire in_ready, out_valid, out_last;
  wire [{d.output_width - 1}:0] out_data;
  {TOP} dut(
  .clk(clk), .rst(rst), .in_valid(in_valid), .in_data(in_data),
{seq_port}  .out_ready(out_ready), .in_ready(in_ready), .out_valid(out_valid),
  .out_data(out_data), .out_last(out_last){weight_ports});
{weight_memory}
  reg [{d.input_width - 1}:0] inputs [0:{sequences * words_in - 1}];
  reg [{lw - 1}:0] lengths [0:{max(sequences - 1, 0)}];
  reg [{d.output_width - 1}:0] expected [0:{sequences * words_out - 1}];
  integer cycle = 0, errors = 0, got = 0, reported = 0, s, e, seed = {seed};
  integer loaded_at [0:{max(sequences - 1, 0)}];
  integer drained_at [0:{max(sequences - 1, 0)}];
  integer s_out, start, received;
  always @(posedge clk) cycle <= cycle + 1;

  initial begin
    $readmemh("tb_in.hex", inputs);
    $readmemh("tb_out.hex", expected);
    $readmemh("tb_len.hex", lengths);
    repeat (3) @(negedge clk);
    rst = 0;
    for (s = 0; s < {sequences}; s = s + 1)
      for (e = 0; e < {words_in}; e = e + 1) begin
        in_valid = 1;
        in_data = inputs[s * {words_in} + e];
        seq_len = lengths[s];
        while (!in_ready) @(negedge clk);
        @(negedge clk);
        if (e == {words_in - 1}) loaded_at[s] = cycle;
      end
    in_valid = 0;
  end

  initial begin
    received = $fopen("tb_got.hex", "w");
    @(negedge clk);
    while (rst) @(negedge clk);
    while (got < {sequences * words_out}) begin
      out_ready = ($random(seed) & 3) != 0;
      if (out_valid && got % {words_out} == 0 && reported <= got / {words_out}) begin
        s_out = got / {words_out};
        start = loaded_at[s_out];
        if (s_out > 0 && drained_at[s_out - 1] > start) start = drained_at[s_out - 1];
        $display("SEQ %0d cycles %0d", s_out, cycle - start);
        reported = got / {words_out} + 1;
      end
      if (out_valid && out_ready) begin
        $fwrite(received, "%h\\n", out_data);
        if (out_data !== expected[got]) begin
          errors = errors + 1;
          if (errors <= 10)
            $display("MISMATCH seq %0d word %0d got %0d want %0d", got / {words_out},
                     got % {words_out}, $signed(out_data), $signed(expected[got]));
        end
        if (out_last != ((got % {words_out}) == {words_out - 1})) begin
          errors = errors + 1;
          $display("MISMATCH out_last at word %0d", got);
        end
        if (got % {words_out} == {words_out - 1}) drained_at[got / {words_out}] = cycle;
        got = got + 1;
      end
      @(negedge clk);
    end
    $fclose(received);
    $display("DONE errors=%0d words=%0d", errors, got);
    $finish;
  end
endmodule
"""


@dataclass
class VerifyReport:
    sequences: int
    words: int
    errors: int
    cycles_per_sequence: list[int]
    steps: int
    simulator: str
    overflows: list[str]
    mismatches: list[str]
    # the words the RTL sent, signed, (sequences, words per sequence)
    received: np.ndarray | None = field(default=None, repr=False)
    # With a weight stream: cycles each sequence waited for a weight word.
    stalls_per_sequence: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.words > 0

    def as_dict(self) -> dict:
        fields = {k: v for k, v in asdict(self).items() if k != "received"}
        return {**fields, "ok": self.ok}

    def summary(self) -> str:
        cycles = self.cycles_per_sequence
        mean = sum(cycles) / len(cycles) if cycles else 0
        verdict = "MATCH" if self.ok else "MISMATCH"
        stalls = self.stalls_per_sequence
        waited = (
            f" ({sum(stalls) / len(stalls):.0f} waiting for weights)" if stalls else ""
        )
        return (
            f"{verdict}: {self.sequences} sequences, {self.words} output words, "
            f"{self.errors} mismatches ({self.simulator}); "
            f"{mean:.0f} cycles per sequence{waited}, "
            f"{mean / max(self.steps, 1):.1f} per time step"
        )


_SEQ = re.compile(r"SEQ (\d+) cycles (\d+)")
_DONE = re.compile(r"DONE errors=(\d+) words=(\d+)")
_STALLS = re.compile(r"STALLS (\d+) (\d+)")


def write_testbench(
    emitted: Emitted, expected: Expected, bandwidth: tuple[int, int] = (1, 1)
) -> Path:
    """The self-checking testbench and its stimulus/expected .hex files, next to
    the design (a weight stream's memory model at `bandwidth`); returns the
    testbench's path."""
    d, out = emitted.design, emitted.out_dir
    (out / "tb_in.hex").write_text(_hex_lines(expected.inputs, d.input_width))
    (out / "tb_out.hex").write_text(_hex_lines(expected.outputs, d.output_width))
    (out / "tb_len.hex").write_text(
        _hex_lines(expected.lengths, max(d.seq_len_width, 1))
    )
    tb = out / f"{TESTBENCH}.sv"
    tb.write_text(testbench(emitted, expected.inputs.shape[0], bandwidth=bandwidth))
    return tb


def expected_words(
    module: ModuleOp, emitted: Emitted, batches, sequences: int | None = None
) -> Expected:
    """The interpreter's words for the first `sequences` of `batches`."""
    counter = OverflowCounter()
    parts = [reference(module, emitted.plan, inputs, counter) for inputs in batches]
    return _joined(parts, sequences, counter)


def _joined(
    parts: list[Expected], sequences: int | None, counter: OverflowCounter
) -> Expected:
    """The batches as one run: their sequences, and one overflow line per op
    counted over all of them."""
    return Expected(
        np.concatenate([p.inputs for p in parts])[:sequences],
        np.concatenate([p.lengths for p in parts])[:sequences],
        np.concatenate([p.outputs for p in parts])[:sequences],
        counter.report(),
    )


def run_testbench(
    emitted: Emitted,
    expected: Expected,
    simulator: str = "iverilog",
    timeout: float = simulate.DEFAULT_TIMEOUT,
    bandwidth: tuple[int, int] = (1, 1),
) -> VerifyReport:
    n = expected.inputs.shape[0]
    sources = [*emitted.sources, write_testbench(emitted, expected, bandwidth)]
    out = emitted.out_dir
    if simulator == "iverilog":
        text = simulate.run_iverilog(
            sources, top=TESTBENCH, workdir=out, timeout=timeout
        )
    elif simulator == "verilator":
        text = simulate.run_verilator(
            sources, top=TESTBENCH, workdir=out, timeout=timeout
        )
    else:
        raise RnncError(f"unknown simulator '{simulator}' (iverilog or verilator)")
    done = _DONE.search(text)
    if done is None:
        raise RnncError(f"{simulator}: the testbench did not finish")
    cycles = [int(m[2]) for m in _SEQ.finditer(text)]
    return VerifyReport(
        sequences=n,
        words=int(done[2]),
        errors=int(done[1]),
        cycles_per_sequence=cycles,
        steps=emitted.plan.steps,
        simulator=simulator,
        overflows=expected.overflows,
        mismatches=[ln for ln in text.splitlines() if ln.startswith("MISMATCH")],
        received=received_words(out / "tb_got.hex", emitted.design.output_width, n),
        stalls_per_sequence=[int(m[2]) for m in _STALLS.finditer(text)],
    )


def received_words(path: Path, width: int, sequences: int) -> np.ndarray | None:
    """The words of tb_got.hex as signed integers, one row per sequence."""
    if not path.exists():
        return None
    try:  # an x or z in a word: nothing to return
        words = np.array([int(w, 16) for w in path.read_text().split()], np.int64)
    except ValueError:
        return None
    words = np.where(words >> (width - 1) & 1, words - (1 << width), words)
    if sequences == 0 or words.size % sequences:
        return None
    return words.reshape(sequences, -1)


def random_like(arrays: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
    """Random inputs shaped like `arrays`: integers (tokens, lengths) uniform over
    their observed range, floats normal with their mean and spread."""
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind in "iu":
            out[name] = rng.integers(a.min(), a.max() + 1, a.shape).astype(a.dtype)
        elif a.dtype.kind == "b":
            out[name] = rng.integers(0, 2, a.shape).astype(bool)
        else:
            spread = float(a.std()) or 1.0
            out[name] = rng.normal(float(a.mean()), spread, a.shape).astype(a.dtype)
    return out


def stimulus_batches(
    module: ModuleOp,
    calibration: dict[str, np.ndarray],
    sequences: int,
    seed: int = 0,
) -> list[list[np.ndarray]]:
    """Random inputs for the hardware of `module`, in @main's argument order and
    in batches of the plan's batch, shaped like the calibration arrays."""
    names = [name for name, _ in signature(module)[0]]
    batch = plan_hardware(module).batch
    return random_batches(calibration, names, sequences, batch, seed)


def random_batches(
    calibration: dict[str, np.ndarray],
    names: list[str],
    sequences: int,
    batch: int,
    seed: int = 0,
) -> list[list[np.ndarray]]:
    """Enough random input batches (shaped like the calibration arrays, `batch`
    sequences each) for at least `sequences` sequences."""
    rng = np.random.default_rng(seed)
    count = max(-(-sequences // batch), 1)
    batches = []
    for _ in range(count):
        data = random_like(calibration, rng)
        batches.append([data[n] for n in names])
    return batches


def given_batches(
    module: ModuleOp,
    arrays: dict[str, np.ndarray],
    limit: int | None = None,
    what: str = "--input",
) -> tuple[list[list[np.ndarray]], int]:
    """Given sequences for the hardware of `module`: `arrays` by graph input
    name, any number N of sequences along each input's batch axis (the axis
    where its shape differs from the module's, which must be the plan's batch;
    an array of the module's shape is used as is for every batch), cut into
    batches of the plan's batch in
    @main's argument order (the last one padded with copies of its first
    sequence; only the first `limit` sequences, if given). Returns the batches
    and how many sequences they hold; a one-line RnncError names what does not
    fit."""
    fn = main_function(module)
    names = [name for name, _ in signature(module)[0]]
    unknown = sorted(set(arrays) - set(names))
    if unknown:
        raise RnncError(
            f"{what}: '{unknown[0]}' is not an input of the model (its inputs: "
            f"{', '.join(names)})"
        )
    missing = [n for n in names if n not in arrays]
    if missing:
        raise RnncError(
            f"{what}: no array '{missing[0]}' (the model's inputs: {', '.join(names)})"
        )
    batch = plan_hardware(module).batch
    axes, counts = [], {}
    for name, arg, free in zip(names, fn.args, free_dims(module), strict=True):
        a = np.asarray(arrays[name])
        want = tuple(arg.type.get_shape())
        dtype = numpy_dtype(arg.type.get_element_type())
        if a.dtype.kind not in _KINDS[dtype.kind]:
            raise RnncError(
                f"{what} '{name}': {a.dtype} array, the model's input is {dtype}"
            )
        axis = _batch_axis(name, a.shape, want, batch, what)
        axes.append(axis)
        if axis is not None:
            counts[name] = a.shape[axis]
        elif any(f and want[i] == batch for i, f in enumerate(free)):
            counts[name] = batch  # a batch axis (a free dimension) as the module's
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"'{n}' {c}" for n, c in counts.items())
        raise RnncError(f"{what}: different numbers of sequences ({detail})")
    total = next(iter(counts.values()), batch)
    if total < 1:
        raise RnncError(f"{what}: no sequences")
    total = min(total, limit) if limit is not None else total
    batches = []
    for start in range(0, total, batch):
        index = np.arange(start, start + batch)
        index[index >= total] = start  # pad with the batch's first sequence
        batches.append(
            [
                np.asarray(arrays[name]).astype(
                    numpy_dtype(arg.type.get_element_type()), copy=False
                )
                if axis is None
                else np.take(arrays[name], index, axis=axis).astype(
                    numpy_dtype(arg.type.get_element_type()), copy=False
                )
                for name, arg, axis in zip(names, fn.args, axes, strict=True)
            ]
        )
    return batches, total


_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}
"""Array kinds accepted for an input of each kind (floats from integers too)."""


def _batch_axis(name, shape, want, batch, what) -> int | None:
    """The axis where a given array holds another number of sequences than the
    module's `batch` (None: its shape is the module's `want`), checked."""
    shown = "x".join(map(str, want))
    if len(shape) != len(want):
        raise RnncError(
            f"{what} '{name}': rank {len(shape)}, the model's input is {shown}"
        )
    differ = [a for a, (g, w) in enumerate(zip(shape, want, strict=True)) if g != w]
    axis = differ[0] if differ else None
    if len(differ) > 1 or (differ and want[axis] != batch):
        got = "x".join(map(str, shape))
        raise RnncError(
            f"{what} '{name}': shape {got} does not fit the model's {shown} (only "
            f"the batch axis, of {batch} there, may hold another number of sequences)"
        )
    return axis


def verify(
    module: ModuleOp,
    batches: list[list[np.ndarray]],
    out_dir: str | Path,
    lanes: int = 1,
    simulator: str = "iverilog",
    sequences: int | None = None,
    onchip_kbits: int | None = None,
    bandwidth: tuple[int, int] = (1, 1),
) -> VerifyReport:
    """Emit, run the interpreter on each batch of inputs, simulate every sequence
    (the first `sequences` only, if given), compare word by word. A terminal
    shows the steps on a progress bar (emit, interpreter batches, simulation)."""
    with progress.bar(len(batches) + 2, "rnnc verify") as shown:
        shown.set_description_str("rnnc verify: emit")
        emitted = emit_verilog(module, out_dir, lanes, onchip_kbits)
        shown.update()
        shown.set_description_str("rnnc verify: interpreter")
        parts, counter = [], OverflowCounter()
        for inputs in batches:
            parts.append(reference(module, emitted.plan, inputs, counter))
            shown.update()
        expected = _joined(parts, sequences, counter)
        shown.set_description_str(f"rnnc verify: {simulator}")
        report = run_testbench(emitted, expected, simulator, bandwidth=bandwidth)
        shown.update()
    return report
