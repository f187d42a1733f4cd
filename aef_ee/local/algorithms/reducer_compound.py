"""The compound reducers: ``Reducer.combine``, ``group``, ``forEach`` and ``repeat``, built from other reducers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aef_ee.local.algorithms.reducer_base import Reducer, plain_scalar, sample_table
from aef_ee.local.errors import InvalidArgument

class Combined(Reducer):
    name = "Reducer.combine"

    def __init__(self, first: Reducer, second: Reducer, prefix: str, shared: bool):
        if shared and first.n_inputs != second.n_inputs:
            raise InvalidArgument(
                "Reducer.combine: with sharedInputs both reducers must take the same number of inputs "
                f"({first.n_inputs} vs {second.n_inputs}).")
        super().__init__([prefix + o for o in first.outputs] + [prefix + o for o in second.outputs],
                         args={"outputPrefix": prefix, "sharedInputs": shared})
        self.first, self.second, self.shared = first, second, shared
        self.n_inputs = first.n_inputs if shared else first.n_inputs + second.n_inputs

    def output_types(self, types):
        return self.first.output_types(types) + self.second.output_types(types)

    def _stack(self, values, masks):
        if not self.shared:
            raise InvalidArgument("Reducer.combine: pixel-wise reduction needs sharedInputs=true.")
        return self.first._stack(values, masks) + self.second._stack(values, masks)

    def reduce_stack(self, values, masks):
        if not self.shared:
            raise InvalidArgument("Reducer.combine: pixel-wise reduction needs sharedInputs=true.")
        return self.first.reduce_stack(values, masks) + self.second.reduce_stack(values, masks)

    def reduce_samples(self, values, weights=None, *, inside=None):
        values = sample_table(values, self)
        if self.shared:
            a, b = values, values
        else:
            a, b = values[:, :self.first.n_inputs], values[:, self.first.n_inputs:]
        out = list(self.first.reduce_samples(a, weights, inside=inside).values()) + list(
            self.second.reduce_samples(b, weights, inside=inside).values())
        return dict(zip(self.outputs, out))


class Grouped(Reducer):
    name = "Reducer.group"

    def __init__(self, inner: Reducer, group_field: int, group_name: str):
        super().__init__(["groups"], args={"groupField": group_field, "groupName": group_name})
        self.inner, self.group_field, self.group_name = inner, int(group_field), group_name
        self.n_inputs = inner.n_inputs + 1
        if not 0 <= self.group_field < self.n_inputs:
            raise InvalidArgument(f"Reducer.group: groupField {group_field} out of range for {self.n_inputs} inputs.")

    def reduce_samples(self, values, weights=None, *, inside=None):
        values = sample_table(values, self)
        rows, _ = self._rows(values.shape[0], weights, inside)
        keys = values[:, self.group_field]
        rest = np.delete(values, self.group_field, axis=1)
        used = np.ones(len(keys), bool) if rows is None else rows
        groups = []
        uniq = sorted({plain_scalar(k) for k in keys[used]}, key=lambda k: (isinstance(k, str), k))
        for key in uniq:
            member = np.asarray([plain_scalar(k) == key for k in keys], bool)
            # Class labels read from a float table are whole numbers: report them as such.
            label = int(key) if isinstance(key, float) and key.is_integer() else key
            entry = {self.group_name: label}
            entry.update(self.inner.reduce_samples(
                rest[member], None if weights is None else np.asarray(weights)[member],
                inside=None if inside is None else np.asarray(inside)[member]))
            groups.append(entry)
        return {self.outputs[0]: groups}


class ForEach(Reducer):
    name = "Reducer.forEach"

    def __init__(self, inner: Reducer, names: Sequence[str]):
        names = list(names)
        outputs = names if len(inner.outputs) == 1 else [f"{n}_{o}" for n in names for o in inner.outputs]
        super().__init__(outputs, args={"outputNames": names})
        self.inner, self.names = inner, names
        self.n_inputs = inner.n_inputs * len(names)

    def output_types(self, types):
        return self.inner.output_types(types) * len(self.names)

    def reduce_samples(self, values, weights=None, *, inside=None):
        values = sample_table(values, self)
        k = self.inner.n_inputs
        out = []
        for i in range(len(self.names)):
            out.extend(self.inner.reduce_samples(values[:, i * k:(i + 1) * k], weights, inside=inside).values())
        return dict(zip(self.outputs, out))


class Repeat(Reducer):
    """The reducer applied to ``count`` groups of inputs; each output is the list of the groups' results."""

    name = "Reducer.repeat"

    def __init__(self, inner: Reducer, count: int):
        if count < 1:
            raise InvalidArgument(f"Reducer.repeat: count must be positive; got {count}.")
        super().__init__(inner.outputs, args={"count": count})
        self.inner, self.count = inner, count
        self.n_inputs = inner.n_inputs * count

    def reduce_samples(self, values, weights=None, *, inside=None):
        values = sample_table(values, self)
        k = self.inner.n_inputs
        results = [self.inner.reduce_samples(values[:, i * k:(i + 1) * k], weights, inside=inside)
                   for i in range(self.count)]
        return {o: [r[o] for r in results] for o in self.outputs}
