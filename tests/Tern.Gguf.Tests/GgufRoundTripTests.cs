namespace Tern.Gguf.Tests;

/// <summary>Every shared model and vocabulary file survives read → write → read unchanged.</summary>
public sealed class GgufRoundTripTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string> SharedFiles()
    {
        var data = new TheoryData<string>();
        foreach (var path in SharedData.Models().Concat(SharedData.VocabFiles()))
            data.Add(Path.GetRelativePath(SharedData.Path(""), path));
        return data;
    }

    [Fact]
    public void All_shared_models_and_vocab_files_are_covered()
    {
        Assert.True(SharedData.Models().Length >= 25, "expected the 25 shared models");
        Assert.True(SharedData.VocabFiles().Length >= 11, "expected the 11 shared vocab files");
    }

    [Theory]
    [MemberData(nameof(SharedFiles))]
    public void Shared_file_reads_back_identically_after_writing(string relativePath)
    {
        string source = SharedData.Path(relativePath);
        string copyPath = _temp.File(Path.GetFileName(source));
        using (var original = GgufFile.Open(source))
        {
            Assert.NotEmpty(original.Metadata);
            GgufWriter.CopyOf(original).WriteFile(copyPath);

            using var copy = GgufFile.Open(copyPath);
            Assert.Equal(original.Version, copy.Version);
            Assert.Equal(original.Alignment, copy.Alignment);
            Assert.Equal(original.DataOffset, copy.DataOffset);
            GgufAssert.SameMetadata(original.Metadata, copy.Metadata);
            GgufAssert.SameTensors(original, copy);
        }

        // llama.cpp lays files out exactly as GgufWriter does, so the copy is the same file byte for byte
        Assert.True(File.ReadAllBytes(source).AsSpan().SequenceEqual(File.ReadAllBytes(copyPath)), $"{relativePath}: the copy differs from the original");
        File.Delete(copyPath);
    }
}
