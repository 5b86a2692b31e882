using System.Text;

namespace Tern.Gguf.Tests;

/// <summary>
/// Writes GGUF bytes field by field, so a test can build exactly the malformed file it needs and know the offset
/// of every field it wrote (<see cref="Position"/> before writing it).
/// </summary>
internal sealed class RawGguf
{
    private readonly MemoryStream _stream = new();
    private readonly BinaryWriter _writer;

    public RawGguf() => _writer = new BinaryWriter(_stream, Encoding.UTF8, leaveOpen: true);

    public long Position => _stream.Position;

    public RawGguf Header(uint version, ulong tensorCount, ulong kvCount) =>
        U32(GgufFile.Magic).U32(version).U64(tensorCount).U64(kvCount);

    public RawGguf U8(byte v) { _writer.Write(v); return this; }
    public RawGguf U16(ushort v) { _writer.Write(v); return this; }
    public RawGguf U32(uint v) { _writer.Write(v); return this; }
    public RawGguf U64(ulong v) { _writer.Write(v); return this; }
    public RawGguf F32(float v) { _writer.Write(v); return this; }
    public RawGguf Bytes(ReadOnlySpan<byte> v) { _writer.Write(v); return this; }

    public RawGguf Str(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        return U64((ulong)bytes.Length).Bytes(bytes);
    }

    /// <summary>A metadata key followed by its value type; the caller writes the value.</summary>
    public RawGguf Key(string key, GgufValueType type) => Str(key).U32((uint)type);

    public RawGguf KvU32(string key, uint value) => Key(key, GgufValueType.UInt32).U32(value);

    public RawGguf KvString(string key, string value) => Key(key, GgufValueType.String).Str(value);

    public RawGguf TensorInfo(string name, long[] dims, GgmlType type, ulong offset)
    {
        Str(name).U32((uint)dims.Length);
        foreach (var d in dims)
            U64((ulong)d);
        return U32((uint)type).U64(offset);
    }

    public RawGguf PadTo(int alignment)
    {
        while (_stream.Position % alignment != 0)
            _writer.Write((byte)0);
        return this;
    }

    public RawGguf Zeros(long count)
    {
        for (long i = 0; i < count; i++)
            _writer.Write((byte)0);
        return this;
    }

    public byte[] ToArray()
    {
        _writer.Flush();
        return _stream.ToArray();
    }
}
