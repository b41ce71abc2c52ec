"""ONNX `Loop` and `Scan` over time → `rnn.recurrence` with the body as the step.

A `Loop` is a recurrence when what it computes per iteration depends on the
iteration only through reading step i of sequences defined outside it:

- *counters* are the iteration number and carried integers the body increments
  by one (tf2onnx's `time`); the value at iteration i is `start + i`.
- the body reads sequence steps with `Gather(seq, counter)` (TensorListGetItem);
  the counter must start at 0.
- everything else the counters reach (the condition, the next counter values)
  depends on counters and constants only: the trip count follows by evaluating
  the condition, iteration by iteration, with the ONNX reference evaluator.
- the other carried values are the states, the scan outputs the per-step outputs.

The body without the counter nodes and reads is imported as a graph of its own
(inputs: the step of each sequence, the states, the values of the enclosing
graph it reads), and becomes the recurrence's step. A `Scan` is the same with
its scan inputs as the sequences (and its axes and directions as transposes and
`reverse`). Anything else is refused with one line naming what is not a
recurrence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from xdsl.dialects import func
from xdsl.ir import Block, Region, SSAValue

from rnnc.dialects import rnn
from rnnc.dialects.arrays import dense_of, numpy_dtype
from rnnc.passes.raise_step_form import reverse_slice

MAX_TRIPS = 1_000_000


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _value_info(name: str, value: SSAValue) -> onnx.ValueInfoProto:
    typ = value.type
    dtype = numpy_dtype(rnn.element_type_of(value))
    return helper.make_tensor_value_info(
        name, helper.np_dtype_to_tensor_dtype(dtype), list(typ.get_shape())
    )


def _body_constants(body: onnx.GraphProto) -> dict[str, np.ndarray]:
    consts = {i.name: numpy_helper.to_array(i) for i in body.initializer}
    for node in body.node:
        if node.op_type == "Constant":
            tensor = _attr(node, "value")
            if tensor is not None:
                consts[node.output[0]] = numpy_helper.to_array(tensor)
    return consts


class _Step:
    """One loop body being turned into a step: its reads, states and outputs."""

    def __init__(self, imp, node: onnx.NodeProto, body: onnx.GraphProto):
        self.imp = imp
        self.node = node
        self.body = body
        self.defined = {o for n in body.node for o in n.output if o}
        self.defined |= {i.name for i in body.input} | {
            i.name for i in body.initializer
        }
        self.reads: list[tuple[str, SSAValue, int]] = []  # (name in body, seq, axis)

    def outer(self, name: str) -> bool:
        return name not in self.defined

    def import_step(
        self,
        nodes: Sequence[onnx.NodeProto],
        states: Sequence[tuple[str, SSAValue]],
        outputs: Sequence[str],
    ) -> tuple[Block, list[SSAValue]]:
        """Import `nodes` as a graph of their own and return it as a step body:
        a block with arguments (reads..., states...) ending in `rnn.yield` of
        `outputs`, and the outer values it reads."""
        from rnnc.frontend.onnx_import import GraphImporter
        from rnnc.frontend.onnx_loader import prepare

        imp = self.imp
        inputs = []
        for name, seq, axis in self.reads:
            shape = list(rnn.shape_of(seq))
            del shape[axis]
            dtype = numpy_dtype(rnn.element_type_of(seq))
            inputs.append(
                helper.make_tensor_value_info(
                    name, helper.np_dtype_to_tensor_dtype(dtype), shape
                )
            )
        inputs += [_value_info(name, value) for name, value in states]
        read = {n for node in nodes for n in _inputs_read(node)} | set(outputs)
        initializers = list(self.body.initializer)
        outer_values: list[SSAValue] = []
        for name in sorted(read):
            if not self.outer(name) or any(i.name == name for i in inputs):
                continue
            if name in imp.initializers:
                initializers.append(imp.initializers[name])
            elif name in imp.values:
                inputs.append(_value_info(name, imp.values[name]))
                outer_values.append(imp.values[name])
            else:
                raise imp.fail(f"the loop body reads '{name}', which is not defined")
        graph = helper.make_graph(
            list(nodes),
            f"{self.body.name}_step",
            inputs,
            [helper.make_tensor_value_info(o, 0, None) for o in outputs],
            initializers,
        )
        model = helper.make_model(graph, opset_imports=list(imp.model.opset_import))
        step = GraphImporter(prepare(model)).run()
        fn = next(op for op in step.walk() if isinstance(op, func.FuncOp))
        src = fn.body.block
        n_local = len(self.reads) + len(states)
        block = Block(arg_types=[a.type for a in src.args[:n_local]])
        mapping: dict[SSAValue, SSAValue] = {}
        for old, new in zip(src.args[:n_local], block.args, strict=True):
            new.name_hint = old.name_hint
            mapping[old] = new
        for old, value in zip(src.args[n_local:], outer_values, strict=True):
            mapping[old] = value
        for op in list(src.ops):
            if isinstance(op, func.ReturnOp):
                block.add_op(rnn.YieldOp([mapping.get(v, v) for v in op.operands]))
            else:
                block.add_op(op.clone(value_mapper=mapping))
        return block, outer_values

    def sequences(self, steps: int) -> list[SSAValue]:
        """Each read sequence, time-major and `steps` long."""
        out = []
        for _, seq, axis in self.reads:
            value = seq
            rank = len(rnn.shape_of(value))
            if axis != 0:
                perm = [axis, *[a for a in range(rank) if a != axis]]
                value = self.imp.insert(rnn.TransposeOp(value, perm)).results[0]
            if rnn.shape_of(value)[0] != steps:
                value = self.imp.insert(rnn.SliceOp(value, [0], [steps], [0])).results[
                    0
                ]
            out.append(value)
        return out


def _inputs_read(node: onnx.NodeProto) -> set[str]:
    names = {n for n in node.input if n}
    for a in node.attribute:
        graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
        for g in graphs:
            for inner in g.node:
                names |= _inputs_read(inner)
    return names


def _counters(
    imp, node: onnx.NodeProto, body: onnx.GraphProto, consts
) -> dict[str, int]:
    """Body input name → start value, for the iteration number and the carried
    integers incremented by one each iteration."""
    counters = {body.input[0].name: 0}
    producers = {o: n for n in body.node for o in n.output}
    carried = len(node.input) - 2
    for j in range(carried):
        name = body.input[2 + j].name
        out = body.output[1 + j].name
        start = node.input[2 + j]
        if start not in imp.initializers:
            continue
        start_value = numpy_helper.to_array(imp.initializers[start])
        if start_value.size != 1 or start_value.dtype.kind not in "iu":
            continue
        add = producers.get(out)
        if add is None or add.op_type != "Add":
            continue
        a, b = add.input
        other = b if a == name else a if b == name else None
        if other is not None and other in consts and np.all(consts[other] == 1):
            counters[name] = int(start_value.reshape(()))
    return counters


def _trip_count(imp, node, body: onnx.GraphProto, counters: dict[str, int]) -> int:
    """How many iterations the Loop runs: its condition evaluated iteration by
    iteration (it may read the counters, the incoming condition and constants)."""
    limit = imp.const_input(node, 0)
    if limit is None:
        raise imp.fail("Loop without a constant trip count is not a recurrence")
    limit = int(np.asarray(limit).reshape(()))
    if limit > MAX_TRIPS:
        raise imp.fail(f"Loop of more than {MAX_TRIPS} iterations")
    cond0 = imp.const_input(node, 1)
    running = True if cond0 is None else bool(np.asarray(cond0).reshape(()))
    cond_in, cond_out = body.input[1].name, body.output[0].name
    producers = {o: n for n in body.node for o in n.output if o}
    consts = _body_constants(body)
    leaves = {*counters, cond_in}
    needed, todo, inits = [], [cond_out], {}
    while todo:
        name = todo.pop()
        if name in leaves or name in inits:
            continue
        if name in consts or name in imp.initializers:
            inits[name] = consts.get(name)
            if inits[name] is None:
                inits[name] = numpy_helper.to_array(imp.initializers[name])
            continue
        if name not in producers:
            raise imp.fail("Loop condition depends on the data: not a recurrence")
        inner = producers[name]
        if inner not in needed:
            needed.append(inner)
            todo.extend(n for n in inner.input if n)
    order = {id(n): i for i, n in enumerate(body.node)}
    needed.sort(key=lambda n: order[id(n)])
    types = {i.name: i for i in body.input}
    graph = helper.make_graph(
        needed,
        "condition",
        [types[c] for c in [*counters, cond_in]],
        [helper.make_tensor_value_info(cond_out, onnx.TensorProto.BOOL, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=list(imp.model.opset_import))
    evaluate = ReferenceEvaluator(model)
    dtypes = {
        i.name: helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type)
        for i in body.input
    }
    steps = 0
    while steps < limit and running:
        feeds = {
            c: np.asarray(start + steps, dtypes[c]) for c, start in counters.items()
        }
        feeds[cond_in] = np.asarray(running)
        (value,) = evaluate.run(None, feeds)
        running = bool(np.asarray(value).reshape(()))
        steps += 1
    return steps


def convert_loop(imp, node: onnx.NodeProto) -> list[SSAValue]:
    body = _attr(node, "body")
    consts = _body_constants(body)
    counters = _counters(imp, node, body, consts)
    step = _Step(imp, node, body)
    carried = len(node.input) - 2
    # The counter cone: nodes reading counters (or values derived from them).
    derived = set(counters)
    cone, reads, rest = [], {}, []
    for inner in body.node:
        ins = [n for n in inner.input if n]
        if inner.op_type == "Constant":
            rest.append(inner)
            continue
        if not any(n in derived for n in ins):
            rest.append(inner)
            continue
        index = inner.input[1] if inner.op_type == "Gather" else None
        if (
            index is not None
            and index in counters
            and counters[index] == 0
            and step.outer(inner.input[0])
            and inner.input[0] in imp.values
        ):
            seq = imp.values[inner.input[0]]
            axis = _attr(inner, "axis", 0) % len(rnn.shape_of(seq))
            reads[inner.output[0]] = (seq, axis)
            continue
        if not all(n in derived or n in consts for n in ins):
            raise imp.fail(
                f"Loop body uses the iteration number in '{inner.op_type}' "
                "(only sequence reads Gather(seq, step) are a recurrence)"
            )
        cone.append(inner)
        derived |= {o for o in inner.output if o}
    steps = _trip_count(imp, node, body, counters)
    state_slots = [j for j in range(carried) if body.input[2 + j].name not in counters]
    for name in {n for inner in rest for n in inner.input if n} | {
        body.output[1 + j].name for j in state_slots
    }:
        if name in derived:
            raise imp.fail(
                f"Loop body computes its step from the iteration number ('{name}')"
            )
    for name, (seq, axis) in reads.items():
        if rnn.shape_of(seq)[axis] < steps:
            raise imp.fail(f"Loop reads past the end of '{name}'")
        step.reads.append((name, seq, axis))
    if not step.reads:
        raise imp.fail("Loop body reads no sequence step: not a recurrence")
    states = [
        (body.input[2 + j].name, imp.value(node.input[2 + j])) for j in state_slots
    ]
    n_scans = len(body.output) - 1 - carried
    outputs = [body.output[1 + j].name for j in state_slots]
    outputs += [o.name for o in body.output[1 + carried :]]
    block, _ = step.import_step(_needed(rest, outputs), states, outputs)
    rec = _recurrence(step, block, steps, [v for _, v in states], n_scans)
    finals = iter(rec.final_states)
    results = []
    for j in range(carried):
        name = body.input[2 + j].name
        if name in counters:
            start = numpy_helper.to_array(imp.initializers[node.input[2 + j]])
            final = np.asarray(counters[name] + steps, start.dtype).reshape(start.shape)
            results.append(imp.insert(rnn.ConstantOp(dense_of(final))).results[0])
        else:
            results.append(next(finals))
    return results + list(rec.step_outputs)


def _needed(nodes: Sequence[onnx.NodeProto], outputs: Sequence[str]) -> list:
    """The nodes (in order) the outputs depend on: not the condition's."""
    producers = {o: n for n in nodes for o in n.output if o}
    keep, todo = set(), list(outputs)
    while todo:
        inner = producers.get(todo.pop())
        if inner is not None and id(inner) not in keep:
            keep.add(id(inner))
            todo.extend(_inputs_read(inner))
    return [n for n in nodes if id(n) in keep]


def _recurrence(
    step: _Step,
    block: Block,
    steps: int,
    inits: list[SSAValue],
    n_scans: int,
    reverse: bool = False,
) -> rnn.RecurrenceOp:
    yielded = list(block.last_op.operands)
    scans = yielded[len(inits) :]
    assert len(scans) == n_scans
    out_types = [
        rnn.tensor((steps, *rnn.shape_of(v)), rnn.element_type_of(v)) for v in scans
    ]
    rec = rnn.RecurrenceOp(
        step.sequences(steps), inits, out_types, Region(block), reverse=reverse
    )
    step.imp.insert(rec)
    return rec


def convert_scan(imp, node: onnx.NodeProto) -> list[SSAValue]:
    body = _attr(node, "body")
    n_scan_in = _attr(node, "num_scan_inputs")
    n_states = len(node.input) - n_scan_in
    in_axes = list(_attr(node, "scan_input_axes", [0] * n_scan_in))
    in_dirs = list(_attr(node, "scan_input_directions", [0] * n_scan_in))
    n_scan_out = len(body.output) - n_states
    out_axes = list(_attr(node, "scan_output_axes", [0] * n_scan_out))
    out_dirs = list(_attr(node, "scan_output_directions", [0] * n_scan_out))
    if len(set(in_dirs)) > 1:
        raise imp.fail("Scan over inputs in both directions is not one recurrence")
    reverse = bool(in_dirs and in_dirs[0])
    step = _Step(imp, node, body)
    for k in range(n_scan_in):
        seq = imp.value(node.input[n_states + k])
        axis = in_axes[k] % len(rnn.shape_of(seq))
        step.reads.append((body.input[n_states + k].name, seq, axis))
    steps = rnn.shape_of(step.reads[0][1])[step.reads[0][2]]
    states = [(body.input[j].name, imp.value(node.input[j])) for j in range(n_states)]
    block, _ = step.import_step(list(body.node), states, [o.name for o in body.output])
    rec = _recurrence(step, block, steps, [v for _, v in states], n_scan_out, reverse)
    results = list(rec.final_states)
    for k, out in enumerate(rec.step_outputs):
        value = out
        if bool(out_dirs[k]) != reverse:  # stacked in the other time order
            value = imp.insert(reverse_slice(value, 0)).results[0]
        axis = out_axes[k] % len(rnn.shape_of(value))
        if axis != 0:
            rank = len(rnn.shape_of(value))
            perm = list(range(1, rank))
            perm.insert(axis, 0)
            value = imp.insert(rnn.TransposeOp(value, perm)).results[0]
        results.append(value)
    return results
