namespace Tern.Gguf.Tests;

/// <summary>Split GGUFs as llama.cpp's gguf-split writes and reads them.</summary>
public sealed class GgufSplitTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Six small F32 tensors (tensor i holds the value i) and some metadata, split two tensors a part.</summary>
    private IReadOnlyList<string> SplitModel()
    {
        var writer = new GgufWriter();
        writer.Add("general.architecture", GgufValue.From("llama"));
        writer.Add("llama.block_count", GgufValue.From(6u));
        for (int i = 0; i < 6; i++)
            writer.AddTensor($"t{i}", [4], GgmlType.F32, Enumerable.Repeat((float)i, 4).SelectMany(BitConverter.GetBytes).ToArray());
        string whole = _temp.File("whole.gguf");
        writer.WriteFile(whole);
        using var source = GgufFile.Open(whole);
        return GgufSplit.Write(source, _temp.File("model"), tensorsPerPart: 2);
    }

    /// <summary>Rewrites a part with one metadata value replaced.</summary>
    private static void Replace(string part, string key, GgufValue value)
    {
        GgufWriter writer;
        using (var file = GgufFile.Open(part))
        {
            writer = new GgufWriter(file.Version);
            foreach (var (k, v) in file.Metadata)
                writer.Add(k, k == key ? value : v);
            foreach (var t in file.Tensors)
                writer.AddTensor(t.Name, t.Dimensions, t.Type, file.GetTensorBytes(t).ToArray());
        }
        writer.WriteFile(part);
    }

    [Fact]
    public void Parts_are_named_and_numbered_as_gguf_split_does_with_the_metadata_in_the_first()
    {
        var parts = SplitModel();

        Assert.Equal(["model-00001-of-00003.gguf", "model-00002-of-00003.gguf", "model-00003-of-00003.gguf"], parts.Select(Path.GetFileName));
        for (int i = 0; i < parts.Count; i++)
        {
            using var part = GgufFile.Open(parts[i]);
            Assert.Equal((GgufValueType.UInt16, (object)(ushort)i), (part["split.no"]!.Type, part["split.no"]!.Value));
            Assert.Equal((GgufValueType.UInt16, (object)(ushort)3), (part["split.count"]!.Type, part["split.count"]!.Value));
            Assert.Equal((GgufValueType.Int32, (object)6), (part["split.tensors.count"]!.Type, part["split.tensors.count"]!.Value));
            Assert.Equal(i == 0, part.TryGetValue("general.architecture", out _));
            Assert.Equal([$"t{2 * i}", $"t{2 * i + 1}"], part.Tensors.Select(t => t.Name));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Any_part_opens_the_whole_model_with_the_first_parts_metadata(int given)
    {
        var parts = SplitModel();

        using var model = GgufSplit.Open(parts[given]);

        Assert.Equal(parts[0], model.Path);
        Assert.Equal(parts, model.Parts.Select(p => p.Path));
        Assert.Equal("llama", model.GetString("general.architecture"));
        Assert.Equal(["t0", "t1", "t2", "t3", "t4", "t5"], model.Tensors.Select(t => t.Name));
        for (int i = 0; i < 6; i++)
        {
            var t = model.GetTensor($"t{i}");
            Assert.Equal(Enumerable.Repeat((float)i, 4), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(model.GetTensorBytes(t)).ToArray());
            unsafe
            {
                Assert.Equal((float)i, *(float*)model.GetTensorAddress(t));
            }
        }
    }

    [Fact]
    public void A_single_file_opens_as_itself()
    {
        string path = _temp.File("single.gguf");
        var writer = new GgufWriter();
        writer.AddTensor("t", [4], GgmlType.F32, new byte[16]);
        writer.WriteFile(path);

        using var file = GgufSplit.Open(path);

        Assert.Equal([file], file.Parts);
    }

    [Fact]
    public void A_missing_part_is_an_error_naming_it()
    {
        var parts = SplitModel();
        File.Delete(parts[1]);

        var e = Assert.Throws<FileNotFoundException>(() => GgufSplit.Open(parts[0]));

        Assert.Equal($"{parts[0]}: part 2 of 3 of this split model is missing: {parts[1]} does not exist", e.Message);
    }

    [Fact]
    public void A_part_with_another_split_count_is_an_error_naming_it()
    {
        var parts = SplitModel();
        Replace(parts[2], "split.count", GgufValue.From((ushort)4));

        var e = Assert.Throws<GgufFormatException>(() => GgufSplit.Open(parts[0]));

        Assert.Equal($"{parts[2]}: split.count is 4, but the split model has 3 parts", e.Message);
    }

    [Fact]
    public void A_part_in_the_wrong_place_is_an_error_naming_it()
    {
        var parts = SplitModel();
        Replace(parts[1], "split.no", GgufValue.From((ushort)2));

        var e = Assert.Throws<GgufFormatException>(() => GgufSplit.Open(parts[0]));

        Assert.Equal($"{parts[1]}: split.no is 2, but this is part 2 (expected 1)", e.Message);
    }

    [Fact]
    public void A_tensor_count_that_the_parts_do_not_add_up_to_is_an_error()
    {
        var parts = SplitModel();
        Replace(parts[0], "split.tensors.count", GgufValue.From(7));

        var e = Assert.Throws<GgufFormatException>(() => GgufSplit.Open(parts[0]));

        Assert.Equal($"{parts[0]}: split.tensors.count is 7, but the 3 parts hold 6 tensors", e.Message);
    }

    [Fact]
    public void A_renamed_part_whose_siblings_cannot_be_found_is_an_error_saying_why()
    {
        var parts = SplitModel();
        string renamed = _temp.File("renamed.gguf");
        File.Move(parts[0], renamed);

        var e = Assert.Throws<GgufFormatException>(() => GgufSplit.Open(renamed));

        Assert.Equal($"{renamed}: is part 1 of 3 of a split model, but its name does not end in -00001-of-00003.gguf, so the other parts cannot be found", e.Message);
    }
}
