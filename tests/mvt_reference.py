"""An independent Mapbox Vector Tile decoder for the tests: the Tile message of the vector tile
spec (v2.1) written as a protobuf descriptor and its geometry commands decoded by hand. It
shares no code with either encoder it checks (geo.tiling.tiles' own writer, PostGIS's
ST_AsMVT) nor with the page's decoder (static/js/mvt.js)."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def _tile_message_class() -> Any:
    """The Tile message of vector_tile.proto (spec v2.1), built as a descriptor."""
    f = descriptor_pb2.FileDescriptorProto(name="ccmap_test_vt.proto", package="ccmap_test_vt",
                                           syntax="proto2")
    tile = f.message_type.add(name="Tile")
    opt, rep = (descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
                descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    t = descriptor_pb2.FieldDescriptorProto
    value = tile.nested_type.add(name="Value")
    for name, num, typ in (("string_value", 1, t.TYPE_STRING), ("float_value", 2, t.TYPE_FLOAT),
                           ("double_value", 3, t.TYPE_DOUBLE), ("int_value", 4, t.TYPE_INT64),
                           ("uint_value", 5, t.TYPE_UINT64), ("sint_value", 6, t.TYPE_SINT64),
                           ("bool_value", 7, t.TYPE_BOOL)):
        value.field.add(name=name, number=num, type=typ, label=opt)
    feature = tile.nested_type.add(name="Feature")
    feature.field.add(name="id", number=1, type=t.TYPE_UINT64, label=opt)
    feature.field.add(name="tags", number=2, type=t.TYPE_UINT32, label=rep,
                      options=descriptor_pb2.FieldOptions(packed=True))
    feature.field.add(name="type", number=3, type=t.TYPE_UINT32, label=opt)
    feature.field.add(name="geometry", number=4, type=t.TYPE_UINT32, label=rep,
                      options=descriptor_pb2.FieldOptions(packed=True))
    layer = tile.nested_type.add(name="Layer")
    layer.field.add(name="version", number=15, type=t.TYPE_UINT32, label=opt)
    layer.field.add(name="name", number=1, type=t.TYPE_STRING, label=opt)
    layer.field.add(name="features", number=2, type=t.TYPE_MESSAGE, label=rep,
                    type_name=".ccmap_test_vt.Tile.Feature")
    layer.field.add(name="keys", number=3, type=t.TYPE_STRING, label=rep)
    layer.field.add(name="values", number=4, type=t.TYPE_MESSAGE, label=rep,
                    type_name=".ccmap_test_vt.Tile.Value")
    layer.field.add(name="extent", number=5, type=t.TYPE_UINT32, label=opt)
    tile.field.add(name="layers", number=3, type=t.TYPE_MESSAGE, label=rep,
                   type_name=".ccmap_test_vt.Tile.Layer")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("ccmap_test_vt.Tile"))


TILE_MESSAGE = _tile_message_class()


def _commands(geometry: list[int]) -> list[list[tuple[int, int]]]:
    """Geometry commands (MoveTo 1, LineTo 2, ClosePath 7; zigzag deltas) to parts."""
    parts: list[list[tuple[int, int]]] = []
    x = y = i = 0
    while i < len(geometry):
        cmd, count = geometry[i] & 7, geometry[i] >> 3
        i += 1
        if cmd == 7:
            parts[-1].append(parts[-1][0])
            continue
        for _ in range(count):
            dx, dy = geometry[i], geometry[i + 1]
            i += 2
            x += (dx >> 1) ^ -(dx & 1)
            y += (dy >> 1) ^ -(dy & 1)
            if cmd == 1:
                parts.append([])
            parts[-1].append((x, y))
    return parts


def decode_independently(data: bytes) -> dict[str, list[dict[str, Any]]]:
    """{layer: [{id, type, properties, parts}]} with the spec-built protobuf decoder."""
    msg = TILE_MESSAGE()
    msg.ParseFromString(data)
    out: dict[str, list[dict[str, Any]]] = {}
    for layer in msg.layers:
        assert layer.version == 2 and layer.extent == 4096
        values = [next(getattr(v, f.name) for f in v.DESCRIPTOR.fields if v.HasField(f.name))
                  for v in layer.values]
        feats = []
        for feat in layer.features:
            tags = list(feat.tags)
            props = {layer.keys[k]: values[v] for k, v in zip(tags[::2], tags[1::2], strict=True)}
            feats.append({"id": feat.id if feat.HasField("id") else None, "type": feat.type,
                          "properties": props, "parts": _commands(list(feat.geometry))})
        out[layer.name] = feats
    return out
