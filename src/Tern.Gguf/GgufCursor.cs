using System.Buffers.Binary;
using System.Text;

namespace Tern.Gguf;

/// <summary>Bounds-checked little-endian reader over the mapped file; every failure names the file and offset.</summary>
internal unsafe struct GgufCursor(byte* start, long length, string path)
{
    private const int MaxArrayNesting = 8;

    public long Position;

    public readonly long Remaining => length - Position;

    public readonly GgufFormatException Error(long offset, string problem) => new(path, offset, problem);

    public ReadOnlySpan<byte> Take(long count, string what)
    {
        if (count < 0 || count > Remaining)
            throw Error(Position, $"truncated file: {what} needs {(ulong)count} bytes but only {Remaining} remain");
        var span = new ReadOnlySpan<byte>(start + Position, (int)count);
        Position += count;
        return span;
    }

    public byte U8(string what) => Take(1, what)[0];
    public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));
    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    /// <summary>A count that must fit in what is left of the file at <paramref name="minBytesEach"/> bytes per item.</summary>
    public long Count(string what, int minBytesEach)
    {
        long at = Position;
        ulong n = U64(what);
        if (n > (ulong)(Remaining / minBytesEach))
            throw Error(at, $"{what} {n} is larger than the rest of the file ({Remaining} bytes) can hold");
        return (long)n;
    }

    public string String(string what)
    {
        long at = Position;
        ulong n = U64(what + " length");
        if (n > (ulong)Remaining)
            throw Error(at, $"{what} length {n} runs past the end of the file ({Remaining} bytes remain)");
        return Encoding.UTF8.GetString(Take((long)n, what));
    }

    public GgufValueType ValueType(string what)
    {
        long at = Position;
        uint t = U32(what);
        if (t > (uint)GgufValueType.Float64)
            throw Error(at, $"unknown metadata value type {t} for {what}");
        return (GgufValueType)t;
    }

    public GgufValue Value(GgufValueType type, string what, int depth = 0) => type switch
    {
        GgufValueType.UInt8 => GgufValue.From(U8(what)),
        GgufValueType.Int8 => GgufValue.From((sbyte)U8(what)),
        GgufValueType.UInt16 => GgufValue.From(U16(what)),
        GgufValueType.Int16 => GgufValue.From((short)U16(what)),
        GgufValueType.UInt32 => GgufValue.From(U32(what)),
        GgufValueType.Int32 => GgufValue.From((int)U32(what)),
        GgufValueType.Float32 => GgufValue.From(BitConverter.UInt32BitsToSingle(U32(what))),
        GgufValueType.Bool => GgufValue.From(Bool(what)),
        GgufValueType.String => GgufValue.From(String(what)),
        GgufValueType.UInt64 => GgufValue.From(U64(what)),
        GgufValueType.Int64 => GgufValue.From((long)U64(what)),
        GgufValueType.Float64 => GgufValue.From(BitConverter.UInt64BitsToDouble(U64(what))),
        GgufValueType.Array => GgufValue.From(Array(what, depth)),
        _ => throw Error(Position, $"unknown metadata value type {(uint)type} for {what}"),
    };

    private bool Bool(string what)
    {
        long at = Position;
        byte b = U8(what);
        return b <= 1 ? b == 1 : throw Error(at, $"{what}: bool value {b} is neither 0 nor 1");
    }

    private GgufArray Array(string what, int depth)
    {
        if (depth >= MaxArrayNesting)
            throw Error(Position, $"{what}: arrays nested deeper than {MaxArrayNesting} levels");
        var elementType = ValueType(what + " element type");
        long n = Count(what + " element count", MinBytes(elementType));
        return elementType switch
        {
            GgufValueType.UInt8 => new(elementType, Take(n, what).ToArray()),
            GgufValueType.Int8 => new(elementType, Fixed<sbyte>(n, what)),
            GgufValueType.UInt16 => new(elementType, Fixed<ushort>(n, what)),
            GgufValueType.Int16 => new(elementType, Fixed<short>(n, what)),
            GgufValueType.UInt32 => new(elementType, Fixed<uint>(n, what)),
            GgufValueType.Int32 => new(elementType, Fixed<int>(n, what)),
            GgufValueType.Float32 => new(elementType, Fixed<float>(n, what)),
            GgufValueType.UInt64 => new(elementType, Fixed<ulong>(n, what)),
            GgufValueType.Int64 => new(elementType, Fixed<long>(n, what)),
            GgufValueType.Float64 => new(elementType, Fixed<double>(n, what)),
            GgufValueType.Bool => new(elementType, Items(n, what, (ref GgufCursor c, string w) => c.Bool(w))),
            GgufValueType.String => new(elementType, Items(n, what, (ref GgufCursor c, string w) => c.String(w))),
            _ => new(elementType, Items(n, what, (ref GgufCursor c, string w) => c.Array(w, depth + 1))),
        };
    }

    private delegate T ItemReader<T>(ref GgufCursor cursor, string what);

    private T[] Items<T>(long n, string what, ItemReader<T> read)
    {
        var items = new T[n];
        for (long i = 0; i < n; i++)
            items[i] = read(ref this, what);
        return items;
    }

    private T[] Fixed<T>(long n, string what) where T : unmanaged
    {
        var bytes = Take(n * sizeof(T), what);
        var items = new T[n];
        bytes.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(items.AsSpan()));
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("GGUF reading needs a little-endian machine");
        return items;
    }

    /// <summary>Smallest encoding of one element: bounds counts before anything is allocated.</summary>
    private static int MinBytes(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.String or GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 12, // nested array: element type + count
    };
}
