using System.IO.MemoryMappedFiles;

namespace Tern.Gguf;

/// <summary>
/// A memory-mapped GGUF file (version 2 or 3): metadata, tensor infos and zero-copy access to tensor data.
/// Everything is validated on open; a malformed file throws <see cref="GgufFormatException"/>.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" little-endian
    public const int DefaultAlignment = 32;
    private const int MaxDimensions = 4;
    private const int MaxKeyBytes = 65535; // the GGUF specification's limit
    private const int MaxTensorNameBytes = 63; // ggml's GGML_MAX_NAME (64) with its terminating zero; llama.cpp rejects longer

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _length;
    private readonly Dictionary<string, GgufValue> _byKey;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    private GgufFile[] _parts;
    private Dictionary<string, GgufFile>? _partOfTensor; // only for a split model: the part that holds each tensor
    private bool _disposed;

    private GgufFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* start, long length)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = start;
        _length = length;
        _byKey = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        _tensorsByName = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        var cursor = new GgufCursor(start, length, path);
        (Version, Metadata, Alignment, Tensors, DataOffset) = Parse(ref cursor);
        _parts = [this];
    }

    public string Path { get; }

    public uint Version { get; }

    public int Alignment { get; }

    /// <summary>Byte offset of the data section from the start of the file.</summary>
    public long DataOffset { get; }

    public long FileSize => _length;

    /// <summary>The bytes before the data section: header, metadata and tensor table (what identifies the model).</summary>
    public ReadOnlySpan<byte> HeaderBytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return new ReadOnlySpan<byte>(_base, checked((int)DataOffset));
        }
    }

    /// <summary>Metadata in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata { get; }

    /// <summary>Tensor infos in file order (of a split model: every part's, part after part).</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; private set; }

    /// <summary>The files of the model: this one, then the other parts of a split model (see <see cref="GgufSplit"/>).</summary>
    public IReadOnlyList<GgufFile> Parts => _parts;

    /// <summary>
    /// Makes this file (the first part of a split model) answer for the tensors of <paramref name="others"/> too;
    /// it owns them from now on. The caller has checked that the names are unique across the parts.
    /// </summary>
    internal void Attach(IReadOnlyList<GgufFile> others)
    {
        _partOfTensor = new Dictionary<string, GgufFile>(StringComparer.Ordinal);
        var all = new List<GgufTensorInfo>(Tensors);
        foreach (var part in others)
        {
            foreach (var t in part.Tensors)
            {
                _tensorsByName.Add(t.Name, t);
                _partOfTensor.Add(t.Name, part);
                all.Add(t);
            }
        }
        Tensors = all;
        _parts = [this, .. others];
    }

    /// <summary>The file whose data section holds <paramref name="tensor"/>: this one, except for a split model's later parts.</summary>
    private GgufFile Holder(GgufTensorInfo tensor) =>
        _partOfTensor is not null && _partOfTensor.TryGetValue(tensor.Name, out var part) ? part : this;

    public static GgufFile Open(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            long length = stream.Length;
            if (length < 8)
                throw new GgufFormatException(path, length, $"truncated file: {length} bytes is too short for a GGUF header");
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* start = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            start += view.PointerOffset;
            return new GgufFile(path, map, view, start, length);
        }
        catch
        {
            if (view is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                view.Dispose();
            }
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    public bool TryGetValue(string key, out GgufValue value) => _byKey.TryGetValue(key, out value!);

    public GgufValue? this[string key] => _byKey.GetValueOrDefault(key);

    public string? GetString(string key) => _byKey.TryGetValue(key, out var v) ? Typed(key, v.AsString) : null;

    public long? GetInteger(string key) => _byKey.TryGetValue(key, out var v) ? Typed(key, v.AsInteger) : null;

    public double? GetFloat(string key) => _byKey.TryGetValue(key, out var v) ? Typed(key, v.AsDouble) : null;

    public bool? GetBool(string key) => _byKey.TryGetValue(key, out var v) ? Typed(key, v.AsBool) : null;

    // These switch on the GGUF element type, not on the .NET array type: the CLR lets a uint[] match an int[]
    // pattern (and sbyte[] a byte[] one), which would reinterpret 3e9 as a negative number.
    public string[]? GetStringArray(string key) => ArrayOf(key) switch
    {
        null => null,
        { ElementType: GgufValueType.String } a => (string[])a.Items,
        var a => throw NotAnArrayOf(key, a, "strings"),
    };

    public float[]? GetFloatArray(string key) => ArrayOf(key) switch
    {
        null => null,
        { ElementType: GgufValueType.Float32 } a => (float[])a.Items,
        { ElementType: GgufValueType.Float64 } a => Array.ConvertAll((double[])a.Items, x => (float)x),
        var a => throw NotAnArrayOf(key, a, "floats"),
    };

    public int[]? GetInt32Array(string key) => ArrayOf(key) switch
    {
        null => null,
        { ElementType: GgufValueType.Int32 } a => (int[])a.Items,
        { ElementType: GgufValueType.UInt32 } a => ToInt32(key, (uint[])a.Items),
        { ElementType: GgufValueType.UInt8 } a => ToInt32(key, (byte[])a.Items),
        { ElementType: GgufValueType.Int8 } a => ToInt32(key, (sbyte[])a.Items),
        { ElementType: GgufValueType.UInt16 } a => ToInt32(key, (ushort[])a.Items),
        { ElementType: GgufValueType.Int16 } a => ToInt32(key, (short[])a.Items),
        { ElementType: GgufValueType.UInt64 } a => ToInt32(key, (ulong[])a.Items),
        { ElementType: GgufValueType.Int64 } a => ToInt32(key, (long[])a.Items),
        var a => throw NotAnArrayOf(key, a, "integers"),
    };

    private GgufArray? ArrayOf(string key) => _byKey.TryGetValue(key, out var v) ? Typed(key, v.AsArray) : null;

    /// <summary>Runs a GgufValue accessor, naming the key if the value has the wrong type.</summary>
    private static T Typed<T>(string key, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (InvalidCastException e)
        {
            throw new InvalidCastException($"metadata '{key}': {e.Message}", e);
        }
    }

    private static InvalidCastException NotAnArrayOf(string key, GgufArray array, string wanted) =>
        new($"metadata '{key}' is an array of {array.ElementType}, not of {wanted}");

    private static int[] ToInt32<T>(string key, T[] items) where T : System.Numerics.IBinaryInteger<T>
    {
        var result = new int[items.Length];
        for (int i = 0; i < items.Length; i++)
        {
            try
            {
                result[i] = int.CreateChecked(items[i]);
            }
            catch (OverflowException)
            {
                throw new InvalidCastException($"metadata '{key}' item {i} is {items[i]}, outside the Int32 range");
            }
        }
        return result;
    }

    public bool TryGetTensor(string name, out GgufTensorInfo tensor) => _tensorsByName.TryGetValue(name, out tensor!);

    public GgufTensorInfo GetTensor(string name) =>
        _tensorsByName.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>The whole tensor's bytes, zero-copy (tensors over 2 GiB: use <see cref="GetTensorRows"/>).</summary>
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor)
    {
        if (tensor.ByteCount > int.MaxValue)
            throw new InvalidOperationException($"tensor '{tensor.Name}' is {tensor.ByteCount} bytes, too large for one span; read it by rows");
        return Slice(tensor, 0, (int)tensor.ByteCount);
    }

    /// <summary><paramref name="rowCount"/> rows starting at <paramref name="firstRow"/>, zero-copy.</summary>
    public ReadOnlySpan<byte> GetTensorRows(GgufTensorInfo tensor, long firstRow, int rowCount)
    {
        // firstRow > RowCount - rowCount, not firstRow + rowCount > RowCount: the sum can overflow and wrap around
        if (firstRow < 0 || rowCount < 0 || firstRow > tensor.RowCount - rowCount)
            throw new ArgumentOutOfRangeException(nameof(firstRow), $"{rowCount} rows from row {firstRow} are outside tensor '{tensor.Name}' with {tensor.RowCount} rows");
        if (rowCount * tensor.RowBytes > int.MaxValue)
            throw new InvalidOperationException($"{rowCount} rows of tensor '{tensor.Name}' are {rowCount * tensor.RowBytes} bytes, too large for one span; read fewer rows");
        return Slice(tensor, firstRow * tensor.RowBytes, (int)(rowCount * tensor.RowBytes));
    }

    /// <summary>Address of a tensor's first byte, valid until this file is disposed (for kernels that stream rows).</summary>
    public nint GetTensorAddress(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var holder = Holder(tensor);
        return (nint)(holder._base + holder.DataOffset + (long)tensor.Offset);
    }

    /// <summary>
    /// Tells the kernel this process no longer needs the tensor's mapped pages resident (after copying it elsewhere),
    /// so they stop counting towards its memory; a later read maps them in again from the file. Linux only, else none.
    /// </summary>
    public void ReleasePages(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!OperatingSystem.IsLinux())
            return;
        // Whole pages inside the tensor only: its neighbours may still be in use.
        var start = (long)GetTensorAddress(tensor);
        var end = start + tensor.ByteCount;
        start = (start + Environment.SystemPageSize - 1) / Environment.SystemPageSize * Environment.SystemPageSize;
        end = end / Environment.SystemPageSize * Environment.SystemPageSize;
        if (end > start)
            _ = Madvise((nint)start, (nuint)(end - start), MadviseDontNeed); // advice only: a failure changes nothing we rely on
    }

    private const int MadviseDontNeed = 4;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint length, int advice);

    private ReadOnlySpan<byte> Slice(GgufTensorInfo tensor, long start, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_tensorsByName.TryGetValue(tensor.Name, out var own) || !ReferenceEquals(own, tensor))
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {Path}", nameof(tensor));
        var holder = Holder(tensor);
        return new ReadOnlySpan<byte>(holder._base + holder.DataOffset + (long)tensor.Offset + start, count);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
        foreach (var part in _parts.Skip(1))
            part.Dispose();
    }

    private (uint, List<KeyValuePair<string, GgufValue>>, int, List<GgufTensorInfo>, long) Parse(ref GgufCursor c)
    {
        uint magic = c.U32("magic");
        if (magic != Magic)
            throw c.Error(0, $"bad magic 0x{magic:X8}: not a GGUF file (expected \"GGUF\")");
        uint version = c.U32("version");
        if (version is not (2 or 3))
            throw c.Error(4, version == 1
                ? "GGUF version 1 is not supported (only versions 2 and 3)"
                : $"unknown GGUF version {version} (supported: 2 and 3){(version > 0xFFFF ? "; the file may be big-endian" : "")}");

        long tensorCount = c.Count("tensor count", 24); // name length + n_dims + type + offset at least
        long kvCount = c.Count("metadata count", 13); // key length + type + 1-byte value at least

        var metadata = new List<KeyValuePair<string, GgufValue>>((int)Math.Min(kvCount, 4096));
        int alignment = DefaultAlignment;
        for (long i = 0; i < kvCount; i++)
        {
            long at = c.Position;
            string key = c.String(new GgufField("metadata key", Index: i), MaxKeyBytes);
            var field = new GgufField("metadata", key);
            var type = c.ValueType(field.With("type"));
            long valueAt = c.Position;
            var value = c.Value(type, field);
            if (!_byKey.TryAdd(key, value))
                throw c.Error(at, $"duplicate metadata key '{GgufField.Shown(key)}'");
            metadata.Add(new(key, value));
            if (key == "general.alignment")
                alignment = CheckAlignment(ref c, value, valueAt);
        }

        var tensors = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 65536));
        for (long i = 0; i < tensorCount; i++)
            tensors.Add(ReadTensorInfo(ref c, i, alignment));

        long dataOffset = (c.Position + alignment - 1) / alignment * alignment;
        long dataSize = Math.Max(0, _length - dataOffset);
        CheckTensorData(ref c, tensors, dataOffset, dataSize);
        return (version, metadata, alignment, tensors, dataOffset);
    }

    private static int CheckAlignment(ref GgufCursor c, GgufValue value, long valueAt)
    {
        if (value.Type != GgufValueType.UInt32)
            throw c.Error(valueAt, $"general.alignment must be a UInt32, found {value.Type}");
        uint a = (uint)value.Value;
        if (a == 0 || (a & (a - 1)) != 0 || a > 1 << 20)
            throw c.Error(valueAt, $"general.alignment {a} is not a power of two up to 1 MiB");
        return (int)a;
    }

    private GgufTensorInfo ReadTensorInfo(ref GgufCursor c, long index, int alignment)
    {
        long at = c.Position;
        string name = c.String(new GgufField("tensor", Index: index, Part: "name"), MaxTensorNameBytes);
        var field = new GgufField("tensor", name);
        long dimsAt = c.Position;
        uint nDims = c.U32(field.With("dimension count"));
        if (nDims is 0 or > MaxDimensions)
            throw c.Error(dimsAt, $"tensor '{name}' has {nDims} dimensions (1 to {MaxDimensions} allowed)");
        var dims = new long[nDims];
        long elements = 1;
        for (int d = 0; d < nDims; d++)
        {
            long dimAt = c.Position;
            ulong n = c.U64(field.Dimension(d));
            if (n == 0 || n > long.MaxValue)
                throw c.Error(dimAt, $"tensor '{name}' dimension {d} is {n} (must be 1 to {long.MaxValue})");
            dims[d] = (long)n;
            if (elements > long.MaxValue / dims[d])
                throw c.Error(dimAt, $"tensor '{name}' dimensions overflow: the element count exceeds 2^63");
            elements *= dims[d];
        }

        long typeAt = c.Position;
        uint rawType = c.U32(field.With("type"));
        var type = (GgmlType)rawType;
        if (!GgmlTypeSizes.TryGet(type, out var size))
            throw c.Error(typeAt, $"tensor '{name}' has unknown type {rawType}");
        if (dims[0] % size.BlockSize != 0)
            throw c.Error(dimsAt, $"tensor '{name}' row length {dims[0]} is not a multiple of the {type} block size {size.BlockSize}");
        if (elements / size.BlockSize > long.MaxValue / size.BytesPerBlock)
            throw c.Error(dimsAt, $"tensor '{name}' dimensions overflow: the byte size exceeds 2^63");

        long offsetAt = c.Position;
        ulong offset = c.U64(field.With("data offset"));
        if (offset % (ulong)alignment != 0)
            throw c.Error(offsetAt, $"tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}");

        var tensor = new GgufTensorInfo(name, dims, type, offset);
        if (!_tensorsByName.TryAdd(name, tensor))
            throw c.Error(at, $"duplicate tensor name '{name}'");
        return tensor;
    }

    private void CheckTensorData(ref GgufCursor c, List<GgufTensorInfo> tensors, long dataOffset, long dataSize)
    {
        if (tensors.Count == 0)
            return;
        var byOffset = tensors.OrderBy(t => t.Offset).ToArray();
        ulong previousEnd = 0;
        string? previousName = null;
        foreach (var t in byOffset)
        {
            // reported where the tensor starts, or where the file ends if it starts beyond that
            if (t.Offset > (ulong)dataSize || (ulong)t.ByteCount > (ulong)dataSize - t.Offset)
                throw c.Error(t.Offset < (ulong)dataSize ? dataOffset + (long)t.Offset : _length,
                    $"tensor '{t.Name}' data ({t.ByteCount} bytes at data offset {t.Offset}) runs past the end of the file (data section is {dataSize} bytes)");
            if (t.Offset < previousEnd)
                throw c.Error(dataOffset + (long)t.Offset, $"tensor '{t.Name}' data overlaps tensor '{previousName}'");
            previousEnd = t.Offset + (ulong)t.ByteCount;
            previousName = t.Name;
        }
    }
}
