using System.Globalization;

namespace Tern.Gguf;

/// <summary>Metadata value types, numbered as in the GGUF specification.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>
/// One metadata value. Scalars are held as their .NET type (byte, sbyte, ushort, short, uint, int, float, bool,
/// string, ulong, long, double); arrays as <see cref="GgufArray"/>.
/// </summary>
public sealed class GgufValue
{
    private GgufValue(GgufValueType type, object value)
    {
        Type = type;
        Value = value;
    }

    public GgufValueType Type { get; }

    public object Value { get; }

    public static GgufValue From(byte v) => new(GgufValueType.UInt8, v);
    public static GgufValue From(sbyte v) => new(GgufValueType.Int8, v);
    public static GgufValue From(ushort v) => new(GgufValueType.UInt16, v);
    public static GgufValue From(short v) => new(GgufValueType.Int16, v);
    public static GgufValue From(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue From(int v) => new(GgufValueType.Int32, v);
    public static GgufValue From(float v) => new(GgufValueType.Float32, v);
    public static GgufValue From(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue From(string v) => new(GgufValueType.String, v);
    public static GgufValue From(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufValue From(long v) => new(GgufValueType.Int64, v);
    public static GgufValue From(double v) => new(GgufValueType.Float64, v);
    public static GgufValue From(GgufArray v) => new(GgufValueType.Array, v);

    public bool IsInteger => Type is GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.UInt16 or GgufValueType.Int16
        or GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.UInt64 or GgufValueType.Int64;

    public string AsString() => Value as string ?? throw WrongType("string");

    public bool AsBool() => Value is bool b ? b : throw WrongType("bool");

    public GgufArray AsArray() => Value as GgufArray ?? throw WrongType("array");

    /// <summary>Any integer type as long (UInt64 above long.MaxValue is an error).</summary>
    public long AsInteger() => Value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        ulong => throw new InvalidCastException("GGUF value is a UInt64 too large for Int64"),
        _ => throw WrongType("integer"),
    };

    /// <summary>Any float or integer type as double.</summary>
    public double AsDouble() => Value switch
    {
        float v => v,
        double v => v,
        _ when IsInteger => AsInteger(),
        _ => throw WrongType("number"),
    };

    public override string ToString() => Value switch
    {
        string s => s,
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };

    private InvalidCastException WrongType(string wanted) => new($"GGUF value is {Type}, not {wanted}");
}

/// <summary>
/// An array value: <see cref="Items"/> is a typed .NET array (byte[], int[], float[], string[], ... or GgufArray[]
/// for arrays of arrays).
/// </summary>
public sealed class GgufArray
{
    public GgufArray(GgufValueType elementType, Array items)
    {
        var expected = ClrType(elementType);
        if (items.GetType().GetElementType() != expected)
            throw new ArgumentException($"a GGUF {elementType} array needs {expected.Name}[], got {items.GetType().Name}", nameof(items));
        ElementType = elementType;
        Items = items;
    }

    public GgufValueType ElementType { get; }

    public Array Items { get; }

    public int Count => Items.Length;

    public static Type ClrType(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.Array => typeof(GgufArray),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown GGUF value type"),
    };
}
