namespace Tern.Gguf.Tests;

/// <summary>
/// Each malformed file is rejected with a <see cref="GgufFormatException"/> naming the file, the byte offset of the
/// offending field and the problem. Offsets are taken from <see cref="RawGguf.Position"/> while building the file.
/// </summary>
public sealed class GgufValidationTests : IDisposable
{
    private const int HeaderBytes = 24; // magic, version, tensor count, metadata count
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Write(RawGguf raw) => _temp.Write("bad.gguf", raw.ToArray());

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(7)]
    public void File_shorter_than_the_header_start_is_rejected(int length)
    {
        string path = _temp.Write("short.gguf", new RawGguf().Header(3, 0, 0).ToArray()[..length]);
        GgufAssert.Rejects(path, length, $"truncated file: {length} bytes is too short");
    }

    [Fact]
    public void Bad_magic_is_rejected_at_byte_0()
    {
        var raw = new RawGguf().U32(0x58554747).U32(3).U64(0).U64(0); // "GGUX"
        GgufAssert.Rejects(Write(raw), 0, "bad magic 0x58554747");
    }

    [Theory]
    [InlineData(0u, "unknown GGUF version 0")]
    [InlineData(1u, "GGUF version 1 is not supported")]
    [InlineData(4u, "unknown GGUF version 4")]
    [InlineData(0x03000000u, "the file may be big-endian")]
    public void Unsupported_version_is_rejected_at_byte_4(uint version, string problem)
    {
        GgufAssert.Rejects(Write(new RawGguf().Header(version, 0, 0)), 4, problem);
    }

    /// <summary>
    /// A valid file cut short inside every kind of field. Near the start the tensor and metadata counts already
    /// exceed what the rest of the file can hold, so that check reports the truncation first.
    /// </summary>
    public static TheoryData<string, long, long, string> TruncationPoints()
    {
        var (raw, m) = ValidFileWithMarks();
        long end = raw.Position;
        return new TheoryData<string, long, long, string>
        {
            { "inside tensor count", 12, 8, "truncated file: tensor count needs 8 bytes but only 4 remain" },
            { "inside metadata count", 20, 8, "tensor count 1 is larger than the rest of the file (4 bytes) can hold" },
            { "inside first key", m["key0"] + 21, 16, "metadata count 2 is larger than the rest of the file (21 bytes) can hold" },
            { "inside string length", m["value0"] + 4, m["value0"], "truncated file: metadata 'general.architecture' length needs 8 bytes but only 4 remain" },
            { "inside string", m["value0"] + 10, m["value0"], "metadata 'general.architecture' length 5 runs past the end of the file (2 bytes remain)" },
            { "inside second key", m["key1"] + 11, m["key1"], "metadata key #1 length 16 runs past the end of the file (3 bytes remain)" },
            { "inside value type", m["type1"] + 2, m["type1"], "truncated file: metadata 'tokenizer.scores' type needs 4 bytes but only 2 remain" },
            { "inside array count", m["count1"] + 4, m["count1"], "truncated file: metadata 'tokenizer.scores' element count needs 8 bytes but only 4 remain" },
            { "inside array items", m["count1"] + 14, m["count1"], "metadata 'tokenizer.scores' element count 3 is larger than the rest of the file (6 bytes) can hold" },
            { "inside tensor name", m["tensor"] + 9, m["tensor"], "tensor #0 name length 6 runs past the end of the file (1 bytes remain)" },
            { "inside tensor dimension", m["dim1"] + 3, m["dim1"], "truncated file: tensor 'weight' dimension 1 needs 8 bytes but only 3 remain" },
            { "inside tensor type", m["ttype"] + 2, m["ttype"], "truncated file: tensor 'weight' type needs 4 bytes but only 2 remain" },
            { "inside tensor offset", m["offset"] + 1, m["offset"], "truncated file: tensor 'weight' data offset needs 8 bytes but only 1 remain" },
            { "before the data section", m["infos end"], m["infos end"], "tensor 'weight' data (32 bytes at data offset 0) runs past the end of the file (data section is 0 bytes)" },
            { "inside data", end - 24, m["data"], "tensor 'weight' data (32 bytes at data offset 0) runs past the end of the file (data section is 8 bytes)" },
            { "one byte short", end - 1, m["data"], "tensor 'weight' data (32 bytes at data offset 0) runs past the end of the file (data section is 31 bytes)" },
        };
    }

    [Theory]
    [MemberData(nameof(TruncationPoints))]
    public void Truncated_file_is_rejected_where_the_data_runs_out(string where, long cutAt, long offset, string problem)
    {
        Assert.NotEmpty(where);
        var (raw, _) = ValidFileWithMarks();
        string path = _temp.Write("cut.gguf", raw.ToArray()[..(int)cutAt]);
        var ex = GgufAssert.Rejects(path, offset, problem);
        Assert.InRange(ex.Offset, 0, cutAt);
    }

    [Fact]
    public void The_untruncated_file_of_the_truncation_tests_loads()
    {
        var (raw, _) = ValidFileWithMarks();
        using var file = GgufFile.Open(Write(raw));
        Assert.Equal("llama", file.GetString("general.architecture"));
        Assert.Equal([1f, 2f, 3f], file.GetFloatArray("tokenizer.scores")!);
        Assert.Equal(32, file.GetTensorBytes(file.GetTensor("weight")).Length);
    }

    private static (RawGguf Raw, Dictionary<string, long> Marks) ValidFileWithMarks()
    {
        var m = new Dictionary<string, long>();
        var raw = new RawGguf().Header(3, 1, 2);
        m["key0"] = raw.Position;
        raw.Key("general.architecture", GgufValueType.String);
        m["value0"] = raw.Position;
        raw.Str("llama");
        m["key1"] = raw.Position;
        raw.Str("tokenizer.scores");
        m["type1"] = raw.Position;
        raw.U32((uint)GgufValueType.Array).U32((uint)GgufValueType.Float32);
        m["count1"] = raw.Position;
        raw.U64(3).F32(1).F32(2).F32(3);
        m["tensor"] = raw.Position;
        raw.Str("weight").U32(2).U64(4);
        m["dim1"] = raw.Position;
        raw.U64(2);
        m["ttype"] = raw.Position;
        raw.U32((uint)GgmlType.F32);
        m["offset"] = raw.Position;
        raw.U64(0);
        m["infos end"] = raw.Position;
        raw.PadTo(32);
        m["data"] = raw.Position;
        raw.Zeros(32);
        return (raw, m);
    }

    [Theory]
    [InlineData(1000UL)]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 63)]
    public void Key_length_past_the_end_is_rejected_at_the_length_field(ulong length)
    {
        var raw = new RawGguf().Header(3, 0, 1).U64(length).Bytes("general.abcdefgh"u8);
        GgufAssert.Rejects(Write(raw), HeaderBytes, $"metadata key #0 length {length} runs past the end of the file (16 bytes remain)");
    }

    [Fact]
    public void String_value_length_past_the_end_is_rejected_at_the_length_field()
    {
        var raw = new RawGguf().Header(3, 0, 1).Key("general.name", GgufValueType.String);
        long at = raw.Position;
        raw.U64(long.MaxValue).Bytes("tiny"u8);
        GgufAssert.Rejects(Write(raw), at, $"metadata 'general.name' length {long.MaxValue} runs past the end of the file (4 bytes remain)");
    }

    [Theory]
    [InlineData(GgufValueType.UInt8, 9UL)]
    [InlineData(GgufValueType.Float32, 3UL)] // 12 bytes, 8 remain
    [InlineData(GgufValueType.UInt64, 1UL << 40)]
    [InlineData(GgufValueType.String, ulong.MaxValue)]
    [InlineData(GgufValueType.Array, ulong.MaxValue / 2)]
    public void Array_count_past_the_end_is_rejected_at_the_count_field(GgufValueType elementType, ulong count)
    {
        var raw = new RawGguf().Header(3, 0, 1).Key("tokenizer.ggml.tokens", GgufValueType.Array).U32((uint)elementType);
        long at = raw.Position;
        raw.U64(count).U64(0);
        GgufAssert.Rejects(Write(raw), at, $"metadata 'tokenizer.ggml.tokens' element count {count} is larger than the rest of the file (8 bytes) can hold");
    }

    [Fact]
    public void String_inside_an_array_running_past_the_end_is_rejected_at_its_length_field()
    {
        var raw = new RawGguf().Header(3, 0, 1).Key("tokenizer.ggml.tokens", GgufValueType.Array)
            .U32((uint)GgufValueType.String).U64(2).Str("ok");
        long at = raw.Position;
        raw.U64(100).Bytes("short"u8);
        GgufAssert.Rejects(Write(raw), at, "metadata 'tokenizer.ggml.tokens'[1] length 100 runs past the end of the file (5 bytes remain)");
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 32)]
    [InlineData(3UL)] // 64 bytes follow the count: room for two tensor infos of at least 24 bytes, not three
    public void Tensor_count_larger_than_the_file_can_hold_is_rejected(ulong count)
    {
        var raw = new RawGguf().Header(3, count, 0).TensorInfo("t", [4], GgmlType.F32, 0).PadTo(32).Zeros(16);
        GgufAssert.Rejects(Write(raw), 8, $"tensor count {count} is larger than the rest of the file");
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(5UL)]
    public void Metadata_count_larger_than_the_file_can_hold_is_rejected(ulong count)
    {
        var raw = new RawGguf().Header(3, 0, count).KvU32("a", 1).KvU32("b", 2);
        GgufAssert.Rejects(Write(raw), 16, $"metadata count {count} is larger than the rest of the file");
    }

    [Fact]
    public void Metadata_count_past_the_last_key_is_rejected_as_truncated()
    {
        var raw = new RawGguf().Header(3, 0, 3).KvU32("alpha.beta", 1).KvU32("gamma.delta", 2); // 53 bytes: 3 x 13 fit
        long end = raw.Position;
        GgufAssert.Rejects(Write(raw), end, "truncated file: metadata key #2 length needs 8 bytes but only 0 remain");
    }

    [Theory]
    [InlineData(13u)]
    [InlineData(0xFFFFFFFFu)]
    public void Unknown_value_type_is_rejected_at_the_type_field(uint type)
    {
        var raw = new RawGguf().Header(3, 0, 1).Str("general.name");
        long at = raw.Position;
        raw.U32(type).U64(0);
        GgufAssert.Rejects(Write(raw), at, $"unknown metadata value type {type} for metadata 'general.name' type");
    }

    [Fact]
    public void Unknown_array_element_type_is_rejected_at_the_element_type_field()
    {
        var raw = new RawGguf().Header(3, 0, 1).Key("a", GgufValueType.Array);
        long at = raw.Position;
        raw.U32(42).U64(0);
        GgufAssert.Rejects(Write(raw), at, "unknown metadata value type 42 for metadata 'a' element type");
    }

    [Fact]
    public void Arrays_nested_nine_deep_are_rejected_at_the_ninth_array()
    {
        var raw = new RawGguf().Header(3, 0, 1).Key("deep", GgufValueType.Array);
        for (int level = 0; level < 8; level++)
            raw.U32((uint)GgufValueType.Array).U64(1);
        long at = raw.Position; // the ninth array's element type
        raw.U32((uint)GgufValueType.Int32).U64(1).U32(5);
        GgufAssert.Rejects(Write(raw), at, "metadata 'deep'[0]: arrays nested deeper than 8 levels");
    }

    [Theory]
    [InlineData((byte)2)]
    [InlineData((byte)0xFF)]
    public void Bool_other_than_0_or_1_is_rejected_at_its_byte(byte value)
    {
        var raw = new RawGguf().Header(3, 0, 2).Key("ok", GgufValueType.Bool).U8(1).Key("flag", GgufValueType.Bool);
        long at = raw.Position;
        raw.U8(value);
        GgufAssert.Rejects(Write(raw), at, $"metadata 'flag': bool value {value} is neither 0 nor 1");
    }

    [Fact]
    public void Bool_array_element_other_than_0_or_1_is_rejected_at_its_byte()
    {
        var raw = new RawGguf().Header(3, 0, 1).Key("flags", GgufValueType.Array).U32((uint)GgufValueType.Bool).U64(3).U8(0).U8(1);
        long at = raw.Position;
        raw.U8(7);
        GgufAssert.Rejects(Write(raw), at, "metadata 'flags'[2]: bool value 7 is neither 0 nor 1");
    }

    [Fact]
    public void Duplicate_metadata_key_is_rejected_at_the_second_key()
    {
        var raw = new RawGguf().Header(3, 0, 3).KvU32("general.alignment", 32).KvString("general.name", "x");
        long at = raw.Position;
        raw.KvU32("general.alignment", 64);
        GgufAssert.Rejects(Write(raw), at, "duplicate metadata key 'general.alignment'");
    }

    [Fact]
    public void Duplicate_tensor_name_is_rejected_at_the_second_tensor_info()
    {
        var raw = new RawGguf().Header(3, 2, 0).TensorInfo("w", [8], GgmlType.F32, 0);
        long at = raw.Position;
        raw.TensorInfo("w", [8], GgmlType.F32, 32).PadTo(32).Zeros(64);
        GgufAssert.Rejects(Write(raw), at, "duplicate tensor name 'w'");
    }

    [Fact]
    public void Tensor_name_longer_than_ggml_allows_is_rejected_at_its_length()
    {
        string ok = new('a', 63), tooLong = new('b', 64);
        var raw = new RawGguf().Header(3, 2, 0).TensorInfo(ok, [8], GgmlType.F32, 0);
        long at = raw.Position;
        raw.TensorInfo(tooLong, [8], GgmlType.F32, 32).PadTo(32).Zeros(64);
        GgufAssert.Rejects(Write(raw), at, "tensor #1 name is 64 bytes long, more than the 63 allowed");
    }

    [Fact]
    public void Key_longer_than_the_specification_allows_is_rejected_at_its_length()
    {
        var raw = new RawGguf().Header(3, 0, 2).KvU32(new string('a', 65535), 1);
        long at = raw.Position;
        raw.KvU32(new string('b', 65536), 2);
        GgufAssert.Rejects(Write(raw), at, "metadata key #1 is 65536 bytes long, more than the 65535 allowed");
    }

    [Fact]
    public void Error_messages_cut_long_keys()
    {
        var raw = new RawGguf().Header(3, 0, 1).Str(new string('k', 65535));
        long at = raw.Position;
        raw.U32(77).U64(0);
        var ex = GgufAssert.Rejects(Write(raw), at, "unknown metadata value type 77 for metadata 'kkkk");
        Assert.Contains("... (65535 chars)' type", ex.Message, StringComparison.Ordinal);
        Assert.InRange(ex.Message.Length, 0, 400);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    [InlineData(0xFFFFFFFFu)]
    public void Tensor_with_zero_or_more_than_four_dimensions_is_rejected_at_the_dimension_count(uint nDims)
    {
        var raw = new RawGguf().Header(3, 1, 0).Str("w");
        long at = raw.Position;
        raw.U32(nDims);
        for (int i = 0; i < 5; i++)
            raw.U64(1);
        raw.U32(0).U64(0).PadTo(32).Zeros(64);
        GgufAssert.Rejects(Write(raw), at, $"tensor 'w' has {nDims} dimensions (1 to 4 allowed)");
    }

    [Theory]
    [InlineData(0UL, 0, "tensor 'w' dimension 0 is 0")]
    [InlineData(1UL << 63, 1, "tensor 'w' dimension 1 is 9223372036854775808")]
    [InlineData(ulong.MaxValue, 2, "tensor 'w' dimension 2 is 18446744073709551615")]
    public void Tensor_dimension_of_zero_or_above_int64_is_rejected_at_that_dimension(ulong bad, int index, string problem)
    {
        var raw = new RawGguf().Header(3, 1, 0).Str("w").U32(3);
        long at = 0;
        for (int d = 0; d < 3; d++)
        {
            if (d == index)
                at = raw.Position;
            raw.U64(d == index ? bad : 2);
        }
        raw.U32(0).U64(0).PadTo(32).Zeros(64);
        GgufAssert.Rejects(Write(raw), at, problem);
    }

    [Fact]
    public void Tensor_dimensions_whose_product_overflows_are_rejected_at_the_overflowing_dimension()
    {
        var raw = new RawGguf().Header(3, 1, 0).Str("w").U32(4).U64(1UL << 20).U64(1UL << 20).U64(1UL << 20);
        long at = raw.Position;
        raw.U64(1UL << 20).U32((uint)GgmlType.F32).U64(0).PadTo(32).Zeros(64);
        GgufAssert.Rejects(Write(raw), at, "tensor 'w' dimensions overflow: the element count exceeds 2^63");
    }

    [Fact]
    public void Tensor_whose_byte_size_overflows_is_rejected_at_its_dimensions()
    {
        // 2^61 F32 elements fit in a long, their 2^63 bytes do not
        var raw = new RawGguf().Header(3, 1, 0).Str("w");
        long at = raw.Position;
        raw.U32(2).U64(1UL << 31).U64(1UL << 30).U32((uint)GgmlType.F32).U64(0).PadTo(32).Zeros(64);
        GgufAssert.Rejects(Write(raw), at, "tensor 'w' dimensions overflow: the byte size exceeds 2^63");
    }

    [Theory]
    [InlineData(4u)] // Q4_2, removed from ggml
    [InlineData(31u)]
    [InlineData(1000u)]
    public void Unknown_tensor_type_is_rejected_at_the_type_field(uint type)
    {
        var raw = new RawGguf().Header(3, 1, 0).Str("w").U32(1).U64(256);
        long at = raw.Position;
        raw.U32(type).U64(0).PadTo(32).Zeros(1024);
        GgufAssert.Rejects(Write(raw), at, $"tensor 'w' has unknown type {type}");
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 33L)]
    [InlineData(GgmlType.Q8_0, 16L)]
    [InlineData(GgmlType.Q4_K, 128L)]
    [InlineData(GgmlType.TQ1_0, 32L)]
    [InlineData(GgmlType.IQ4_NL, 48L)]
    [InlineData(GgmlType.IQ4_XS, 128L)]
    public void Row_length_that_is_not_a_multiple_of_the_block_size_is_rejected_at_the_dimensions(GgmlType type, long rowLength)
    {
        int blockSize = GgmlTypeSizes.Get(type).BlockSize;
        var raw = new RawGguf().Header(3, 1, 0).Str("w");
        long at = raw.Position;
        raw.U32(2).U64((ulong)rowLength).U64(4).U32((uint)type).U64(0).PadTo(32).Zeros(4096);
        GgufAssert.Rejects(Write(raw), at, $"tensor 'w' row length {rowLength} is not a multiple of the {type} block size {blockSize}");
    }

    [Fact]
    public void Only_the_row_length_must_be_a_multiple_of_the_block_size()
    {
        // ggml quantizes rows: [32, 3] Q8_0 is 3 blocks; the other dimensions may be anything
        var raw = new RawGguf().Header(3, 1, 0).TensorInfo("w", [32, 3], GgmlType.Q8_0, 0).PadTo(32).Zeros(3 * 34);
        using var file = GgufFile.Open(Write(raw));
        Assert.Equal(3 * 34, file.GetTensorBytes(file.Tensors[0]).Length);
    }

    [Theory]
    [InlineData(0, 16UL)]
    [InlineData(0, 1UL)]
    [InlineData(64, 32UL)]
    [InlineData(64, 96UL)]
    public void Tensor_offset_not_a_multiple_of_the_alignment_is_rejected_at_the_offset_field(int alignment, ulong offset)
    {
        var raw = new RawGguf().Header(3, 1, alignment == 0 ? 0UL : 1UL);
        if (alignment != 0)
            raw.KvU32("general.alignment", (uint)alignment);
        raw.Str("w").U32(1).U64(4).U32((uint)GgmlType.F32);
        long at = raw.Position;
        raw.U64(offset).PadTo(64).Zeros(256);
        int effective = alignment == 0 ? 32 : alignment;
        GgufAssert.Rejects(Write(raw), at, $"tensor 'w' data offset {offset} is not a multiple of the alignment {effective}");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(48u)]
    [InlineData(1u << 21)]
    [InlineData(0x80000000u)]
    public void General_alignment_that_is_not_a_power_of_two_up_to_1MiB_is_rejected_at_its_value(uint alignment)
    {
        var raw = new RawGguf().Header(3, 0, 2).KvString("general.name", "x").Key("general.alignment", GgufValueType.UInt32);
        long at = raw.Position;
        raw.U32(alignment);
        GgufAssert.Rejects(Write(raw), at, $"general.alignment {alignment} is not a power of two up to 1 MiB");
    }

    [Fact]
    public void General_alignment_of_the_wrong_type_is_rejected_at_its_value()
    {
        foreach (var (type, write) in new (GgufValueType, Action<RawGguf>)[]
        {
            (GgufValueType.UInt64, r => r.U64(32)),
            (GgufValueType.Int32, r => r.U32(32)),
            (GgufValueType.UInt16, r => r.U16(32)),
            (GgufValueType.String, r => r.Str("32")),
        })
        {
            var raw = new RawGguf().Header(3, 0, 1).Key("general.alignment", type);
            long at = raw.Position;
            write(raw);
            GgufAssert.Rejects(Write(raw), at, $"general.alignment must be a UInt32, found {type}");
        }
    }

    [Fact]
    public void Tensor_starting_past_the_end_of_the_data_is_rejected()
    {
        var raw = new RawGguf().Header(3, 1, 0).TensorInfo("w", [8], GgmlType.F32, 64).PadTo(32);
        long dataStart = raw.Position;
        raw.Zeros(32);
        GgufAssert.Rejects(Write(raw), dataStart + 32, "tensor 'w' data (32 bytes at data offset 64) runs past the end of the file (data section is 32 bytes)");
    }

    [Fact]
    public void Tensor_running_past_the_end_of_the_data_is_rejected_at_its_start()
    {
        var raw = new RawGguf().Header(3, 2, 0).TensorInfo("a", [8], GgmlType.F32, 0).TensorInfo("b", [64], GgmlType.F32, 32).PadTo(32);
        long dataStart = raw.Position;
        raw.Zeros(32 + 255);
        GgufAssert.Rejects(Write(raw), dataStart + 32, "tensor 'b' data (256 bytes at data offset 32) runs past the end of the file (data section is 287 bytes)");
    }

    [Fact]
    public void Tensor_with_a_huge_offset_is_rejected_without_overflow()
    {
        ulong offset = ulong.MaxValue - 31; // a multiple of 32; offset + size wraps around
        var raw = new RawGguf().Header(3, 1, 0).TensorInfo("w", [8], GgmlType.F32, offset).PadTo(32);
        long dataStart = raw.Position;
        raw.Zeros(64);
        GgufAssert.Rejects(Write(raw), dataStart + 64, $"tensor 'w' data (32 bytes at data offset {offset}) runs past the end of the file");
    }

    [Fact]
    public void Overlapping_tensors_are_rejected_at_the_later_one()
    {
        var raw = new RawGguf().Header(3, 3, 0)
            .TensorInfo("c", [8], GgmlType.F32, 128)
            .TensorInfo("a", [16], GgmlType.F32, 0) // 0..64
            .TensorInfo("b", [8], GgmlType.F32, 32) // 32..64: inside a
            .PadTo(32);
        long dataStart = raw.Position;
        raw.Zeros(160);
        GgufAssert.Rejects(Write(raw), dataStart + 32, "tensor 'b' data overlaps tensor 'a'");
    }

    [Fact]
    public void Tensors_sharing_an_offset_are_rejected_as_overlapping()
    {
        var raw = new RawGguf().Header(3, 2, 0).TensorInfo("a", [8], GgmlType.F32, 0).TensorInfo("b", [8], GgmlType.F32, 0).PadTo(32);
        long dataStart = raw.Position;
        raw.Zeros(32);
        GgufAssert.Rejects(Write(raw), dataStart, "tensor 'b' data overlaps tensor 'a'");
    }

    [Fact]
    public void Adjacent_tensors_out_of_file_order_load()
    {
        var raw = new RawGguf().Header(3, 2, 0).TensorInfo("second", [8], GgmlType.F32, 32).TensorInfo("first", [8], GgmlType.F32, 0).PadTo(32);
        raw.Bytes(Enumerable.Range(0, 64).Select(i => (byte)i).ToArray());
        using var file = GgufFile.Open(Write(raw));
        Assert.Equal(32, file.GetTensorBytes(file.GetTensor("second"))[0]);
        Assert.Equal(0, file.GetTensorBytes(file.GetTensor("first"))[0]);
    }

    [Fact]
    public void Invalid_utf8_is_replaced_as_Encoding_UTF8_does()
    {
        // ggml does not validate UTF-8 either: such strings load, with U+FFFD for each invalid sequence
        var garbage = GgufReaderTests.Pattern(10_000, seed: 5);
        var raw = new RawGguf().Header(3, 0, 2).U64(2).Bytes([0xC3, 0x28]).U32((uint)GgufValueType.UInt8).U8(1)
            .Key("garbage", GgufValueType.String).U64((ulong)garbage.Length).Bytes(garbage);
        using var file = GgufFile.Open(Write(raw));
        Assert.Equal("\uFFFD(", file.Metadata[0].Key);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(garbage), file.GetString("garbage"));
    }

    [Fact]
    public void Decoding_a_megabyte_of_invalid_utf8_allocates_little_more_than_the_string()
    {
        // regression: Encoding.UTF8.GetString allocates ~15x the input on invalid bytes, found by the fuzz test
        const int n = 1 << 20;
        var raw = new RawGguf().Header(3, 0, 1).Key("garbage", GgufValueType.String).U64(n).Bytes(Enumerable.Repeat((byte)0xFF, n).ToArray());
        string path = Write(raw);
        using (GgufFile.Open(path)) { } // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        using var file = GgufFile.Open(path);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(new string('\uFFFD', n), file.GetString("garbage"));
        Assert.InRange(allocated, 2 * n, 2 * n + (64 << 10)); // the 2 MiB string and small change
    }
}
