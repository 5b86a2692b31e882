using System.Runtime.InteropServices;

namespace Tern.Gguf.Tests;

/// <summary>Files built with <see cref="GgufWriter"/> read back exactly: metadata, tensor infos and data.</summary>
public sealed class GgufReaderTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>One value of every scalar type (with edge values), every array element type, and nested arrays.</summary>
    internal static List<KeyValuePair<string, GgufValue>> EveryValueType()
    {
        var nan = BitConverter.UInt32BitsToSingle(0x7FC0_1234); // NaN with a payload: must survive bit for bit
        var arrayOfArrays = new GgufArray(GgufValueType.Array, new[]
        {
            new GgufArray(GgufValueType.String, new[] { "a", "bc" }),
            new GgufArray(GgufValueType.Int32, new[] { -1, 2, 3 }),
            new GgufArray(GgufValueType.UInt8, Array.Empty<byte>()),
            new GgufArray(GgufValueType.Array, new[] { new GgufArray(GgufValueType.Float64, new[] { 1.5, -0.0 }) }),
        });
        return
        [
            new("u8", GgufValue.From(byte.MaxValue)),
            new("i8", GgufValue.From(sbyte.MinValue)),
            new("u16", GgufValue.From(ushort.MaxValue)),
            new("i16", GgufValue.From(short.MinValue)),
            new("u32", GgufValue.From(uint.MaxValue)),
            new("i32", GgufValue.From(int.MinValue)),
            new("f32", GgufValue.From(-0.0f)),
            new("f32.nan", GgufValue.From(nan)),
            new("bool.true", GgufValue.From(true)),
            new("bool.false", GgufValue.From(false)),
            new("str", GgufValue.From("héllo, 世界 🦜")),
            new("str.empty", GgufValue.From("")),
            new("u64", GgufValue.From(ulong.MaxValue)),
            new("i64", GgufValue.From(long.MinValue)),
            new("f64", GgufValue.From(Math.PI)),
            new("arr.u8", GgufValue.From(new GgufArray(GgufValueType.UInt8, new byte[] { 0, 1, 255 }))),
            new("arr.i8", GgufValue.From(new GgufArray(GgufValueType.Int8, new sbyte[] { -128, 0, 127 }))),
            new("arr.u16", GgufValue.From(new GgufArray(GgufValueType.UInt16, new ushort[] { 0, 65535 }))),
            new("arr.i16", GgufValue.From(new GgufArray(GgufValueType.Int16, new short[] { -32768, 32767 }))),
            new("arr.u32", GgufValue.From(new GgufArray(GgufValueType.UInt32, new uint[] { 0, uint.MaxValue }))),
            new("arr.i32", GgufValue.From(new GgufArray(GgufValueType.Int32, new[] { int.MinValue, 7 }))),
            new("arr.f32", GgufValue.From(new GgufArray(GgufValueType.Float32, new[] { 1.25f, float.NegativeInfinity, nan }))),
            new("arr.bool", GgufValue.From(new GgufArray(GgufValueType.Bool, new[] { true, false, true }))),
            new("arr.str", GgufValue.From(new GgufArray(GgufValueType.String, new[] { "", "x", "ü" }))),
            new("arr.u64", GgufValue.From(new GgufArray(GgufValueType.UInt64, new[] { ulong.MaxValue }))),
            new("arr.i64", GgufValue.From(new GgufArray(GgufValueType.Int64, new[] { long.MinValue, -1L }))),
            new("arr.f64", GgufValue.From(new GgufArray(GgufValueType.Float64, new[] { double.Epsilon, -2.5 }))),
            new("arr.empty", GgufValue.From(new GgufArray(GgufValueType.String, Array.Empty<string>()))),
            new("arr.arr", GgufValue.From(arrayOfArrays)),
        ];
    }

    [Theory]
    [InlineData(2u)]
    [InlineData(3u)]
    public void Every_value_type_and_nested_arrays_read_back_identically(uint version)
    {
        var writer = new GgufWriter(version);
        var metadata = EveryValueType();
        foreach (var (key, value) in metadata)
            writer.Add(key, value);
        string path = _temp.File("values.gguf");
        writer.WriteFile(path);

        using var file = GgufFile.Open(path);
        Assert.Equal(version, file.Version);
        Assert.Equal(GgufFile.DefaultAlignment, file.Alignment);
        GgufAssert.SameMetadata(metadata, file.Metadata);
        Assert.Empty(file.Tensors);
    }

    [Fact]
    public void Arrays_nested_eight_deep_load()
    {
        var value = new GgufArray(GgufValueType.Int32, new[] { 42 });
        for (int level = 1; level < 8; level++)
            value = new GgufArray(GgufValueType.Array, new[] { value });
        var writer = new GgufWriter();
        writer.Add("deep", GgufValue.From(value));
        string path = _temp.File("deep.gguf");
        writer.WriteFile(path);

        using var file = GgufFile.Open(path);
        var item = file["deep"]!.AsArray();
        for (int level = 1; level < 8; level++)
            item = ((GgufArray[])item.Items)[0];
        Assert.Equal(new[] { 42 }, (int[])item.Items);
    }

    [Theory]
    [InlineData(2u, 1)]
    [InlineData(3u, 8)]
    [InlineData(3u, 64)]
    [InlineData(2u, 4096)]
    public void Non_default_alignment_places_data_section_and_every_tensor_on_that_boundary(uint version, int alignment)
    {
        var writer = new GgufWriter(version);
        writer.Add("general.name", GgufValue.From("odd sizes"));
        writer.Add("general.alignment", GgufValue.From((uint)alignment));
        var tensors = new (string Name, long[] Dims, GgmlType Type)[]
        {
            ("a", [3], GgmlType.F32), // 12 bytes: the next tensor needs padding for any alignment above 4
            ("b", [32, 3], GgmlType.Q8_0), // 102 bytes
            ("c", [5, 1, 1], GgmlType.F16), // 10 bytes
            ("d", [2, 2, 2, 2], GgmlType.I8),
        };
        var data = tensors.Select((t, i) => Pattern(new GgufTensorInfo(t.Name, t.Dims, t.Type, 0).ByteCount, seed: i)).ToArray();
        for (int i = 0; i < tensors.Length; i++)
            writer.AddTensor(tensors[i].Name, tensors[i].Dims, tensors[i].Type, data[i]);
        string path = _temp.File("aligned.gguf");
        writer.WriteFile(path);

        using var file = GgufFile.Open(path);
        Assert.Equal(version, file.Version);
        Assert.Equal(alignment, file.Alignment);
        Assert.Equal(0, file.DataOffset % alignment);
        Assert.Equal(new FileInfo(path).Length, file.FileSize);
        Assert.Equal(tensors.Select(t => t.Name), file.Tensors.Select(t => t.Name));
        ulong expectedOffset = 0;
        for (int i = 0; i < tensors.Length; i++)
        {
            var t = file.Tensors[i];
            Assert.Equal(tensors[i].Dims, t.Dimensions);
            Assert.Equal(tensors[i].Type, t.Type);
            Assert.Equal(expectedOffset, t.Offset); // tightly packed up to the alignment, in order
            Assert.Equal(0ul, t.Offset % (ulong)alignment);
            Assert.Equal(data[i], file.GetTensorBytes(t).ToArray());
            expectedOffset = (t.Offset + (ulong)t.ByteCount + (ulong)alignment - 1) / (ulong)alignment * (ulong)alignment;
        }
    }

    [Fact]
    public void Tensor_spans_are_zero_copy_views_of_the_mapping_and_cast_to_typed_spans()
    {
        float[] weights = [1f, -2.5f, 3.25f, float.MaxValue, 0f, -0f];
        int[] ids = [7, -8, 9];
        var writer = new GgufWriter();
        writer.Add("general.alignment", GgufValue.From(64u));
        writer.AddTensor("ids", [3], GgmlType.I32, MemoryMarshal.AsBytes(ids.AsSpan()).ToArray());
        writer.AddTensor("weights", [3, 2], GgmlType.F32, MemoryMarshal.AsBytes(weights.AsSpan()).ToArray());
        string path = _temp.File("spans.gguf");
        writer.WriteFile(path);

        using var file = GgufFile.Open(path);
        var t = file.GetTensor("weights");
        var bytes = file.GetTensorBytes(t);
        unsafe
        {
            fixed (byte* p = bytes)
            {
                Assert.Equal(file.GetTensorAddress(t), (nint)p);
                Assert.Equal(0, (nint)p % 64); // the mapping is page aligned, so file alignment is memory alignment
                fixed (byte* again = file.GetTensorBytes(t))
                    Assert.True(p == again, "a second call must return the same memory, not a copy");
                fixed (byte* row1 = file.GetTensorRows(t, 1, 1))
                    Assert.True(row1 == p + 12, "row 1 starts 3 floats after row 0");
            }
        }
        Assert.Equal(weights, MemoryMarshal.Cast<byte, float>(bytes).ToArray());
        Assert.Equal(ids, MemoryMarshal.Cast<byte, int>(file.GetTensorBytes(file.GetTensor("ids"))).ToArray());
    }

    [Fact]
    public void Tensor_infos_of_every_ggml_type_read_back_with_their_sizes()
    {
        var types = Enum.GetValues<GgmlType>();
        var writer = new GgufWriter();
        foreach (var type in types)
        {
            var size = GgmlTypeSizes.Get(type);
            writer.AddTensor(type.ToString(), [size.BlockSize * 2, 3], type, Pattern(6L * size.BytesPerBlock, (int)type));
        }
        string path = _temp.File("types.gguf");
        writer.WriteFile(path);

        using var file = GgufFile.Open(path);
        Assert.Equal(types.Length, file.Tensors.Count);
        foreach (var type in types)
        {
            var size = GgmlTypeSizes.Get(type);
            var t = file.GetTensor(type.ToString());
            Assert.Equal(type, t.Type);
            Assert.Equal(size.BlockSize * 2L, t.RowLength);
            Assert.Equal(3, t.RowCount);
            Assert.Equal(6L * size.BlockSize, t.ElementCount);
            Assert.Equal(2L * size.BytesPerBlock, t.RowBytes);
            Assert.Equal(Pattern(6L * size.BytesPerBlock, (int)type), file.GetTensorBytes(t).ToArray());
        }
    }

    [Fact]
    public void GetTensorRows_returns_exactly_the_requested_rows()
    {
        var data = Pattern(5 * 2 * 18, seed: 3); // Q4_0 [64, 5]: 2 blocks of 18 bytes per row
        var writer = new GgufWriter();
        writer.AddTensor("q", [64, 5], GgmlType.Q4_0, data);
        string path = _temp.File("rows.gguf");
        writer.WriteFile(path);

        using var file = GgufFile.Open(path);
        var t = file.GetTensor("q");
        Assert.Equal(36, t.RowBytes);
        Assert.Equal(data.AsSpan(36, 72).ToArray(), file.GetTensorRows(t, 1, 2).ToArray());
        Assert.Equal(data.AsSpan(4 * 36).ToArray(), file.GetTensorRows(t, 4, 1).ToArray());
        Assert.Equal(0, file.GetTensorRows(t, 5, 0).Length);
        Assert.Equal(data, file.GetTensorRows(t, 0, 5).ToArray());
    }

    [Theory]
    [InlineData(-1L, 1)]
    [InlineData(0L, -1)]
    [InlineData(4L, 2)]
    [InlineData(6L, 0)]
    [InlineData(long.MaxValue, 1)] // firstRow + rowCount overflows: must not wrap around into a "valid" range
    [InlineData(long.MaxValue - 1, int.MaxValue)]
    [InlineData(long.MinValue, 1)]
    public void GetTensorRows_rejects_ranges_outside_the_tensor(long firstRow, int rowCount)
    {
        var writer = new GgufWriter();
        writer.AddTensor("q", [64, 5], GgmlType.Q4_0, new byte[5 * 36]);
        string path = _temp.File("rows.gguf");
        writer.WriteFile(path);

        using var file = GgufFile.Open(path);
        var t = file.GetTensor("q");
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => file.GetTensorRows(t, firstRow, rowCount).Length);
        Assert.Contains("'q'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetTensor_with_an_unknown_name_throws_KeyNotFoundException_naming_tensor_and_file()
    {
        string path = WriteSmallFile("named.gguf");
        using var file = GgufFile.Open(path);
        Assert.True(file.TryGetTensor("t", out _));
        Assert.False(file.TryGetTensor("missing.weight", out _));
        var ex = Assert.Throws<KeyNotFoundException>(() => file.GetTensor("missing.weight"));
        Assert.Contains("missing.weight", ex.Message, StringComparison.Ordinal);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tensor_of_another_file_is_refused()
    {
        using var a = GgufFile.Open(WriteSmallFile("a.gguf"));
        using var b = GgufFile.Open(WriteSmallFile("b.gguf"));
        var ex = Assert.Throws<ArgumentException>(() => a.GetTensorBytes(b.GetTensor("t")).Length);
        Assert.Contains("does not belong", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Disposed_file_refuses_tensor_access()
    {
        var file = GgufFile.Open(WriteSmallFile("disposed.gguf"));
        var t = file.GetTensor("t");
        file.Dispose();
        file.Dispose(); // twice is harmless
        Assert.Throws<ObjectDisposedException>(() => file.GetTensorBytes(t).Length);
        Assert.Throws<ObjectDisposedException>(() => file.GetTensorRows(t, 0, 1).Length);
        Assert.Throws<ObjectDisposedException>(() => file.GetTensorAddress(t));
    }

    [Fact]
    public void Open_file_can_be_read_by_another_reader_and_closes_its_handle_on_dispose()
    {
        string path = WriteSmallFile("shared.gguf");
        using (var first = GgufFile.Open(path))
        using (var second = GgufFile.Open(path))
            Assert.Equal(first.GetTensorBytes(first.Tensors[0]).ToArray(), second.GetTensorBytes(second.Tensors[0]).ToArray());
        File.Delete(path); // both handles are closed: nothing holds the file
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Failed_open_releases_the_file()
    {
        var bytes = new RawGguf().Header(3, 0, 1).Str("k").U32(99).ToArray(); // unknown value type
        string path = _temp.Write("bad.gguf", bytes);
        Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        using var exclusive = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None); // throws if still open
        Assert.Equal(bytes.Length, exclusive.Length);
    }

    private string WriteSmallFile(string name)
    {
        var writer = new GgufWriter();
        writer.Add("general.architecture", GgufValue.From("test"));
        writer.AddTensor("t", [4, 2], GgmlType.F32, Pattern(32, seed: 1));
        string path = _temp.File(name);
        writer.WriteFile(path);
        return path;
    }

    internal static byte[] Pattern(long length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
