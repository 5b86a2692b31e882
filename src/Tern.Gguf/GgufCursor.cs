using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;

namespace Tern.Gguf;

/// <summary>
/// Names the field being read, for error messages: "metadata 'key' element count", "tensor #3 name",
/// "metadata 'tokenizer.ggml.tokens'[7] length". A struct formatted only when something is wrong, so that parsing
/// a 150k-token vocabulary does not build a description string per token.
/// </summary>
internal readonly record struct GgufField(string Subject, string? Name = null, long Index = -1, string? Part = null)
{
    private static readonly string[] DimensionParts = ["dimension 0", "dimension 1", "dimension 2", "dimension 3"];

    public static implicit operator GgufField(string subject) => new(subject);

    public GgufField With(string part) => this with { Part = part };

    public GgufField Item(long index) => this with { Index = index, Part = null };

    public GgufField Dimension(int d) => With(d < DimensionParts.Length ? DimensionParts[d] : $"dimension {d}");

    /// <summary>A name as error messages show it: a corrupted length can make a "key" megabytes long.</summary>
    public static string Shown(string name) =>
        name.Length <= 100 ? name : string.Concat(name.AsSpan(0, 80), $"... ({name.Length} chars)");

    public override string ToString()
    {
        var s = new StringBuilder(Subject);
        if (Name is not null)
            s.Append(" '").Append(Shown(Name)).Append('\'');
        if (Index >= 0)
            s.Append(Name is null ? $" #{Index}" : $"[{Index}]");
        if (Part is not null)
            s.Append(' ').Append(Part);
        return s.ToString();
    }
}

/// <summary>Bounds-checked little-endian reader over the mapped file; every failure names the file and offset.</summary>
internal unsafe struct GgufCursor(byte* start, long length, string path)
{
    private const int MaxArrayNesting = 8;

    public long Position;

    public readonly long Remaining => length - Position;

    public readonly GgufFormatException Error(long offset, string problem) => new(path, offset, problem);

    public ReadOnlySpan<byte> Take(long count, GgufField what)
    {
        if (count < 0 || count > Remaining)
            throw Error(Position, $"truncated file: {what} needs {(ulong)count} bytes but only {Remaining} remain");
        if (count > int.MaxValue) // only possible in files over 2 GiB; a span cannot hold it
            throw Error(Position, $"{what} is {count} bytes, more than the 2 GiB a metadata value may have");
        var span = new ReadOnlySpan<byte>(start + Position, (int)count);
        Position += count;
        return span;
    }

    public byte U8(GgufField what) => Take(1, what)[0];
    public ushort U16(GgufField what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));
    public uint U32(GgufField what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public ulong U64(GgufField what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    /// <summary>A count that must fit in what is left of the file at <paramref name="minBytesEach"/> bytes per item.</summary>
    public long Count(GgufField what, int minBytesEach)
    {
        long at = Position;
        ulong n = U64(what);
        if (n > (ulong)(Remaining / minBytesEach))
            throw Error(at, $"{what} {n} is larger than the rest of the file ({Remaining} bytes) can hold");
        return (long)n;
    }

    public string String(GgufField what, int maxBytes = int.MaxValue)
    {
        long at = Position;
        ulong n = U64(what.With("length"));
        if (n > (ulong)Remaining)
            throw Error(at, $"{what} length {n} runs past the end of the file ({Remaining} bytes remain)");
        if (n > (ulong)maxBytes)
            throw Error(at, $"{what} is {n} bytes long, more than the {maxBytes} allowed");
        var bytes = Take((long)n, what);
        return Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : DecodeInvalidUtf8(bytes);
    }

    /// <summary>
    /// Replaces invalid sequences with U+FFFD, as Encoding.UTF8 does (ggml does not validate UTF-8 either), but
    /// without Encoding.UTF8's fallback path, which allocates about 15 times the input on garbage bytes: count the
    /// chars in stack-sized chunks, then decode straight into the string.
    /// </summary>
    private static string DecodeInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        Span<char> chunk = stackalloc char[1024];
        int length = 0;
        for (var rest = bytes; !rest.IsEmpty;)
        {
            Utf8.ToUtf16(rest, chunk, out int read, out int written, replaceInvalidSequences: true);
            length += written;
            rest = rest[read..];
        }
        return string.Create(length, bytes, static (chars, source) => Utf8.ToUtf16(source, chars, out _, out _, replaceInvalidSequences: true));
    }

    public GgufValueType ValueType(GgufField what)
    {
        long at = Position;
        uint t = U32(what);
        if (t > (uint)GgufValueType.Float64)
            throw Error(at, $"unknown metadata value type {t} for {what}");
        return (GgufValueType)t;
    }

    public GgufValue Value(GgufValueType type, GgufField what, int depth = 0) => type switch
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

    private bool Bool(GgufField what)
    {
        long at = Position;
        byte b = U8(what);
        return b <= 1 ? b == 1 : throw Error(at, $"{what}: bool value {b} is neither 0 nor 1");
    }

    private GgufArray Array(GgufField what, int depth)
    {
        if (depth >= MaxArrayNesting)
            throw Error(Position, $"{what}: arrays nested deeper than {MaxArrayNesting} levels");
        var elementType = ValueType(what.With("element type"));
        long countAt = Position;
        long n = Count(what.With("element count"), MinBytes(elementType));
        if (n > System.Array.MaxLength) // only possible in files over 2 GiB
            throw Error(countAt, $"{what} element count {n} is more than an array can hold");
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
            GgufValueType.Bool => new(elementType, Bools(n, what)),
            GgufValueType.String => new(elementType, Strings(n, what)),
            _ => new(elementType, Arrays(n, what, depth + 1)),
        };
    }

    private bool[] Bools(long n, GgufField what)
    {
        var items = new bool[n];
        for (long i = 0; i < n; i++)
            items[i] = Bool(what.Item(i));
        return items;
    }

    private string[] Strings(long n, GgufField what)
    {
        var items = new string[n];
        for (long i = 0; i < n; i++)
            items[i] = String(what.Item(i));
        return items;
    }

    private GgufArray[] Arrays(long n, GgufField what, int depth)
    {
        var items = new GgufArray[n];
        for (long i = 0; i < n; i++)
            items[i] = Array(what.Item(i), depth);
        return items;
    }

    private T[] Fixed<T>(long n, GgufField what) where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("GGUF reading needs a little-endian machine");
        var bytes = Take(n * sizeof(T), what);
        var items = new T[n];
        bytes.CopyTo(MemoryMarshal.AsBytes(items.AsSpan()));
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
