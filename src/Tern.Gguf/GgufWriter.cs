using System.Buffers.Binary;
using System.Text;

namespace Tern.Gguf;

/// <summary>
/// Builds a GGUF (version 3 by default) file: metadata in insertion order, tensor infos, then tensor data, each
/// tensor aligned to <c>general.alignment</c> (32 unless that key is set).
/// </summary>
public sealed class GgufWriter(uint version = 3)
{
    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    private readonly List<PendingTensor> _tensors = [];

    /// <summary>Writes a tensor's bytes to the stream; must write exactly the tensor's byte size.</summary>
    public delegate void TensorDataWriter(Stream output);

    private sealed record PendingTensor(string Name, long[] Dimensions, GgmlType Type, long ByteCount, TensorDataWriter Write);

    public void Add(string key, GgufValue value)
    {
        if (_metadata.Exists(kv => kv.Key == key))
            throw new ArgumentException($"metadata key '{key}' added twice", nameof(key));
        // the reader's rule: anything else would make a file that GgufFile (and llama.cpp) refuse
        if (key == "general.alignment" && !(value.Value is uint a && a != 0 && (a & (a - 1)) == 0 && a <= 1 << 20))
            throw new ArgumentException($"general.alignment must be a UInt32 power of two up to 1 MiB, not {value.Type} {value}", nameof(value));
        _metadata.Add(new(key, value));
    }

    public void AddTensor(string name, long[] dimensions, GgmlType type, TensorDataWriter write)
    {
        if (_tensors.Exists(t => t.Name == name))
            throw new ArgumentException($"tensor '{name}' added twice", nameof(name));
        var info = new GgufTensorInfo(name, dimensions, type, 0);
        _tensors.Add(new(name, dimensions, type, info.ByteCount, write));
    }

    public void AddTensor(string name, long[] dimensions, GgmlType type, ReadOnlyMemory<byte> data) =>
        AddTensor(name, dimensions, type, s => s.Write(data.Span));

    /// <summary>Copies all metadata and tensors of <paramref name="source"/>.</summary>
    public static GgufWriter CopyOf(GgufFile source)
    {
        var writer = new GgufWriter(source.Version);
        foreach (var (key, value) in source.Metadata)
            writer.Add(key, value);
        foreach (var t in source.Tensors)
            writer.AddTensor(t.Name, t.Dimensions, t.Type, s => CopyTensor(source, t, s));
        return writer;
    }

    internal static void CopyTensor(GgufFile source, GgufTensorInfo t, Stream s)
    {
        const int rowsPerSlice = 4096;
        for (long row = 0; row < t.RowCount; row += rowsPerSlice)
            s.Write(source.GetTensorRows(t, row, (int)Math.Min(rowsPerSlice, t.RowCount - row)));
    }

    /// <summary>Writes to a temporary file beside <paramref name="path"/> and renames it into place.</summary>
    public void WriteFile(string path)
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                Write(stream);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    public void Write(Stream stream)
    {
        int alignment = Alignment();
        var header = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        header.Write(GgufFile.Magic);
        header.Write(version);
        header.Write((ulong)_tensors.Count);
        header.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(header, key);
            header.Write((uint)value.Type);
            WriteValue(header, value.Type, value.Value);
        }

        ulong offset = 0;
        foreach (var t in _tensors)
        {
            WriteString(header, t.Name);
            header.Write((uint)t.Dimensions.Length);
            foreach (var d in t.Dimensions)
                header.Write((ulong)d);
            header.Write((uint)t.Type);
            header.Write(offset);
            offset = Align(offset + (ulong)t.ByteCount, alignment);
        }
        header.Flush();
        if (_tensors.Count > 0) // like llama.cpp: a metadata-only file (a vocab) ends right after its header
            Pad(stream, alignment);

        foreach (var t in _tensors)
        {
            long start = stream.Position;
            t.Write(stream);
            if (stream.Position - start != t.ByteCount)
                throw new InvalidOperationException($"tensor '{t.Name}' wrote {stream.Position - start} bytes, expected {t.ByteCount}");
            Pad(stream, alignment);
        }
    }

    private int Alignment()
    {
        var kv = _metadata.Find(kv => kv.Key == "general.alignment");
        return kv.Value is { Value: uint a } ? (int)a : GgufFile.DefaultAlignment;
    }

    private static ulong Align(ulong x, int alignment) => (x + (ulong)alignment - 1) / (ulong)alignment * (ulong)alignment;

    private static void Pad(Stream stream, int alignment)
    {
        long padding = (long)Align((ulong)stream.Position, alignment) - stream.Position;
        Span<byte> zeros = stackalloc byte[64];
        zeros.Clear();
        while (padding > 0)
        {
            int n = (int)Math.Min(padding, zeros.Length);
            stream.Write(zeros[..n]);
            padding -= n;
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value)
    {
        switch (value)
        {
            case byte v: w.Write(v); break;
            case sbyte v: w.Write(v); break;
            case ushort v: w.Write(v); break;
            case short v: w.Write(v); break;
            case uint v: w.Write(v); break;
            case int v: w.Write(v); break;
            case float v: w.Write(v); break;
            case bool v: w.Write(v); break;
            case string v: WriteString(w, v); break;
            case ulong v: w.Write(v); break;
            case long v: w.Write(v); break;
            case double v: w.Write(v); break;
            case GgufArray a:
                w.Write((uint)a.ElementType);
                w.Write((ulong)a.Count);
                foreach (var item in a.Items)
                    WriteValue(w, a.ElementType, item!); // a nested array writes its own element type and count
                break;
            default:
                throw new ArgumentException($"cannot write a {type} value of .NET type {value.GetType().Name}");
        }
    }
}
