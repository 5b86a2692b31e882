using System.Buffers.Binary;

namespace Tern.Gguf.Tests;

internal enum GgufFieldKind
{
    HeaderCount, // tensor count, metadata count: u64
    KeyLength, // u64
    ValueType, // u32
    StringLength, // u64, of a value or an array item
    ArrayElementType, // u32
    ArrayCount, // u64
    AlignmentValue, // u32
    TensorNameLength, // u64
    DimensionCount, // u32
    Dimension, // u64
    TensorType, // u32
    TensorOffset, // u64
}

/// <summary>
/// Where the structural fields of a valid GGUF file are, found by walking its header independently of
/// <see cref="GgufFile"/>: the fuzz test aims its mutations at them.
/// </summary>
internal sealed class GgufLayout
{
    private readonly byte[] _bytes;
    private long _pos;

    private GgufLayout(byte[] bytes) => _bytes = bytes;

    public Dictionary<GgufFieldKind, List<long>> Fields { get; } = [];

    /// <summary>End of the tensor infos: everything before it is parsed, everything after is data or padding.</summary>
    public long HeaderEnd { get; private set; }

    public static int Size(GgufFieldKind kind) => kind switch
    {
        GgufFieldKind.ValueType or GgufFieldKind.ArrayElementType or GgufFieldKind.AlignmentValue
            or GgufFieldKind.DimensionCount or GgufFieldKind.TensorType => 4,
        _ => 8,
    };

    public static GgufLayout Of(byte[] bytes)
    {
        var layout = new GgufLayout(bytes);
        layout.Walk();
        return layout;
    }

    private void Walk()
    {
        _pos = 8;
        ulong tensorCount = U64(GgufFieldKind.HeaderCount);
        ulong kvCount = U64(GgufFieldKind.HeaderCount);
        for (ulong i = 0; i < kvCount; i++)
        {
            string key = Str(GgufFieldKind.KeyLength);
            var type = (GgufValueType)U32(GgufFieldKind.ValueType);
            if (key == "general.alignment" && type == GgufValueType.UInt32)
                U32(GgufFieldKind.AlignmentValue);
            else
                Value(type);
        }
        for (ulong i = 0; i < tensorCount; i++)
        {
            Str(GgufFieldKind.TensorNameLength);
            uint nDims = U32(GgufFieldKind.DimensionCount);
            for (uint d = 0; d < nDims; d++)
                U64(GgufFieldKind.Dimension);
            U32(GgufFieldKind.TensorType);
            U64(GgufFieldKind.TensorOffset);
        }
        HeaderEnd = _pos;
    }

    private void Value(GgufValueType type)
    {
        switch (type)
        {
            case GgufValueType.String:
                Str(GgufFieldKind.StringLength);
                break;
            case GgufValueType.Array:
                var elementType = (GgufValueType)U32(GgufFieldKind.ArrayElementType);
                ulong n = U64(GgufFieldKind.ArrayCount);
                int fixedSize = FixedSize(elementType);
                if (fixedSize > 0)
                    _pos += (long)n * fixedSize;
                else
                    for (ulong i = 0; i < n; i++)
                        Value(elementType);
                break;
            default:
                _pos += FixedSize(type);
                break;
        }
    }

    private static int FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    private void Mark(GgufFieldKind kind)
    {
        if (!Fields.TryGetValue(kind, out var list))
            Fields[kind] = list = [];
        list.Add(_pos);
    }

    private uint U32(GgufFieldKind kind)
    {
        Mark(kind);
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan((int)_pos));
        _pos += 4;
        return v;
    }

    private ulong U64(GgufFieldKind kind)
    {
        Mark(kind);
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan((int)_pos));
        _pos += 8;
        return v;
    }

    private string Str(GgufFieldKind kind)
    {
        int n = (int)U64(kind);
        string s = System.Text.Encoding.UTF8.GetString(_bytes, (int)_pos, n);
        _pos += n;
        return s;
    }
}
