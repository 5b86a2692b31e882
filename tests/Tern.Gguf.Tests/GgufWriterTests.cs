using System.Text;

namespace Tern.Gguf.Tests;

public sealed class GgufWriterTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(2u)]
    [InlineData(3u)]
    public void Writer_output_matches_the_format_field_by_field(uint version)
    {
        var writer = new GgufWriter(version);
        writer.Add("general.architecture", GgufValue.From("llama"));
        writer.Add("nested", GgufValue.From(new GgufArray(GgufValueType.Array, new[] { new GgufArray(GgufValueType.Bool, new[] { true, false }) })));
        writer.Add("general.alignment", GgufValue.From(16u));
        writer.AddTensor("a", [3], GgmlType.F32, new byte[12]);
        writer.AddTensor("b", [32, 2], GgmlType.Q4_0, Enumerable.Repeat((byte)0xAB, 36).ToArray());
        using var stream = new MemoryStream();
        writer.Write(stream);

        var expected = new RawGguf().Header(version, 2, 3)
            .KvString("general.architecture", "llama")
            .Key("nested", GgufValueType.Array).U32((uint)GgufValueType.Array).U64(1).U32((uint)GgufValueType.Bool).U64(2).U8(1).U8(0)
            .KvU32("general.alignment", 16)
            .TensorInfo("a", [3], GgmlType.F32, 0)
            .TensorInfo("b", [32, 2], GgmlType.Q4_0, 16) // 12 bytes of "a", padded to 16
            .PadTo(16).Zeros(12).PadTo(16).Bytes(Enumerable.Repeat((byte)0xAB, 36).ToArray()).PadTo(16);
        Assert.Equal(expected.ToArray(), stream.ToArray());
    }

    [Fact]
    public void Metadata_only_file_ends_right_after_its_header_and_loads()
    {
        var writer = new GgufWriter();
        writer.Add("tokenizer.ggml.model", GgufValue.From("gpt2"));
        string path = _temp.File("vocab.gguf");
        writer.WriteFile(path);

        Assert.Equal(24 + 8 + 20 + 4 + 8 + 4, new FileInfo(path).Length); // no padding: no data section follows
        using var file = GgufFile.Open(path);
        Assert.Equal("gpt2", file.GetString("tokenizer.ggml.model"));
    }

    [Fact]
    public void Duplicate_key_or_tensor_name_is_refused()
    {
        var writer = new GgufWriter();
        writer.Add("k", GgufValue.From(1u));
        Assert.Contains("'k'", Assert.Throws<ArgumentException>(() => writer.Add("k", GgufValue.From(2u))).Message, StringComparison.Ordinal);
        writer.AddTensor("t", [1], GgmlType.F32, new byte[4]);
        Assert.Contains("'t'", Assert.Throws<ArgumentException>(() => writer.AddTensor("t", [1], GgmlType.F32, new byte[4])).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0u)] // used to divide by zero when padding
    [InlineData(24u)]
    [InlineData(1u << 21)]
    public void General_alignment_the_reader_would_refuse_is_refused(uint alignment)
    {
        var writer = new GgufWriter();
        var ex = Assert.Throws<ArgumentException>(() => writer.Add("general.alignment", GgufValue.From(alignment)));
        Assert.Contains($"general.alignment must be a UInt32 power of two up to 1 MiB, not UInt32 {alignment}", ex.Message, StringComparison.Ordinal);
        // of the wrong type it used to be ignored, writing a file with 32-byte alignment that the reader refuses
        Assert.Throws<ArgumentException>(() => writer.Add("general.alignment", GgufValue.From(64UL)));
    }

    [Fact]
    public void Tensor_data_of_the_wrong_size_fails_the_write_and_leaves_no_file()
    {
        var writer = new GgufWriter();
        writer.AddTensor("t", [8], GgmlType.F32, new byte[31]);
        string path = _temp.File("short.gguf");
        var ex = Assert.Throws<InvalidOperationException>(() => writer.WriteFile(path));
        Assert.Contains("tensor 't' wrote 31 bytes, expected 32", ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_temp.FullPath));
    }

    [Fact]
    public void WriteFile_replaces_an_existing_file_without_leaving_a_temporary_file()
    {
        string path = _temp.Write("model.gguf", Encoding.ASCII.GetBytes("old contents"));
        var writer = new GgufWriter();
        writer.Add("general.name", GgufValue.From("new"));
        writer.WriteFile(path);

        Assert.Equal([path], Directory.GetFiles(_temp.FullPath));
        using var file = GgufFile.Open(path);
        Assert.Equal("new", file.GetString("general.name"));
    }

    [Fact]
    public void Copy_of_a_file_streams_tensor_rows_unchanged()
    {
        var data = GgufReaderTests.Pattern(10_000 * 4, seed: 9); // more than one 4096-row slice
        var writer = new GgufWriter(2);
        writer.Add("general.alignment", GgufValue.From(64u));
        writer.AddTensor("long", [1, 10_000], GgmlType.F32, data);
        string first = _temp.File("first.gguf"), second = _temp.File("second.gguf");
        writer.WriteFile(first);
        using (var source = GgufFile.Open(first))
            GgufWriter.CopyOf(source).WriteFile(second);

        Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));
        using var copy = GgufFile.Open(second);
        Assert.Equal(2u, copy.Version);
        Assert.Equal(64, copy.Alignment);
        Assert.Equal(data, copy.GetTensorBytes(copy.GetTensor("long")).ToArray());
    }
}
