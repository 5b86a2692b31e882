using System.Buffers.Binary;
using System.Diagnostics;

namespace Tern.Gguf.Tests;

/// <summary>
/// Seeded mutation fuzzing of real GGUF files: every mutated file either loads (and then all of its tensor data is
/// readable and inside the file) or is rejected with a <see cref="GgufFormatException"/>; never another exception,
/// a hang, or an allocation out of proportion to the file. Mutations aim mostly at the header, where parsing
/// happens: bit flips, byte overwrites, truncations, inserted or deleted bytes, and structural fields (counts,
/// lengths, types, dimensions, offsets, found by <see cref="GgufLayout"/>) set to huge, boundary or random values.
/// Environment TERN_GGUF_FUZZ_CASES (cases per file) and TERN_GGUF_FUZZ_SEED run it longer or differently.
/// </summary>
public sealed class GgufFuzzTests(ITestOutputHelper output)
{
    private const int DefaultSeed = 20261125;
    private const int DefaultCasesPerFile = 550;
    private static readonly TimeSpan CaseTimeLimit = TimeSpan.FromSeconds(2); // a hang guard, not a speed test

    private static readonly string[] Files =
    [
        "models/stories260K.gguf",
        "models/llama-tiny-q4_k_m.gguf", // mixed tensor types
        "models/llama-2-tiny-random.gguf", // 32,000-token vocabulary: a long header
        "models/qwen2-tiny-q8_0.gguf", // BPE merges
        "models/bitnet-tiny-tq1_0.gguf",
        "models/llama-moe-tiny-q4_k_m.gguf", // 3-dimensional expert tensors
        "tokenizer/ggml-vocab-phi-3.gguf", // metadata only, no data section
    ];

    [Fact]
    public void Mutated_shared_models_either_load_completely_or_throw_GgufFormatException()
    {
        int casesPerFile = EnvironmentInt("TERN_GGUF_FUZZ_CASES", DefaultCasesPerFile);
        int seed = EnvironmentInt("TERN_GGUF_FUZZ_SEED", DefaultSeed);
        using var temp = new TempDirectory();
        var clock = Stopwatch.StartNew();
        var results = new FuzzResult[Files.Length];
        Parallel.For(0, Files.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 1, 4) },
            i => results[i] = FuzzFile(SharedData.Path(Files[i]), temp.File($"fuzz-{i}.gguf"), casesPerFile, seed + 7919 * i));
        clock.Stop();

        int cases = results.Sum(r => r.Cases), loaded = results.Sum(r => r.Loaded), rejected = results.Sum(r => r.Rejected);
        foreach (var r in results)
        {
            output.WriteLine($"  {r.Name}: {r.Cases} cases, {r.Loaded} loaded, {r.Rejected} rejected; most allocated {r.MostAllocatedBytes / 1024} KiB "
                + $"(file of {r.MostAllocatedFileLength / 1024} KiB); slowest {r.SlowestCase.TotalMilliseconds:F0} ms ({r.SlowestDescription})");
        }
        var failures = results.SelectMany(r => r.Failures).ToList();
        string summary = $"GGUF fuzz: {cases} cases, {loaded} loaded, {rejected} rejected, {failures.Count} failures "
            + $"({Files.Length} files, seed {seed}, {clock.Elapsed.TotalSeconds:F1} s)";
        output.WriteLine(summary);
        // easy to find after a run: <test output directory>/gguf-fuzz-summary.txt
        File.WriteAllLines(Path.Combine(AppContext.BaseDirectory, "gguf-fuzz-summary.txt"), [summary, .. failures]);

        Assert.True(failures.Count == 0, $"{failures.Count} fuzz cases failed:\n" + string.Join("\n", failures.Take(25)));
        Assert.Equal(Files.Length * casesPerFile, cases);
        // neither outcome may be rare, or the mutations are not exercising the reader
        Assert.InRange(loaded, cases / 10, cases);
        Assert.InRange(rejected, cases / 10, cases);
    }

    private sealed class FuzzResult(string name)
    {
        public string Name { get; } = name;
        public int Cases, Loaded, Rejected;
        public TimeSpan SlowestCase;
        public string SlowestDescription = "";
        public long MostAllocatedBytes, MostAllocatedFileLength;
        public List<string> Failures { get; } = [];
    }

    private static FuzzResult FuzzFile(string source, string work, int cases, int seed)
    {
        byte[] original = File.ReadAllBytes(source);
        var layout = GgufLayout.Of(original);
        File.WriteAllBytes(work, original);
        using (GgufFile.Open(work)) { } // the unmutated file loads (and the reader is warmed up)

        var result = new FuzzResult(Path.GetFileName(source));
        var rng = new Random(seed);
        for (int n = 0; n < cases; n++)
        {
            var mutation = Mutation.Make(rng, original, layout);
            mutation.ApplyTo(work);
            RunCase(work, mutation, result, $"{result.Name} case {n} (seed {seed})");
            mutation.Undo(work, original);
        }

        if (!File.ReadAllBytes(work).AsSpan().SequenceEqual(original))
            result.Failures.Add($"{result.Name}: undoing the mutations did not restore the file");
        File.Delete(work);
        return result;
    }

    private static void RunCase(string path, Mutation mutation, FuzzResult result, string name)
    {
        var attempt = Attempt(path, mutation.Length);
        if (attempt.Failure is null && attempt.Elapsed > CaseTimeLimit)
            attempt = Attempt(path, mutation.Length); // a hang repeats; a stall of this shared machine does not

        result.Cases++;
        if (attempt.Loaded)
            result.Loaded++;
        else
            result.Rejected++;
        if (attempt.Elapsed > result.SlowestCase)
            (result.SlowestCase, result.SlowestDescription) = (attempt.Elapsed, $"case {result.Cases - 1}: {mutation.Description}");
        if (attempt.Allocated > result.MostAllocatedBytes)
            (result.MostAllocatedBytes, result.MostAllocatedFileLength) = (attempt.Allocated, mutation.Length);

        string? failure = attempt.Failure;
        if (failure is null && attempt.Elapsed > CaseTimeLimit)
            failure = $"took {attempt.Elapsed.TotalSeconds:F1} s, twice";
        // parsing a vocabulary allocates ~2.5x its bytes (UTF-16 strings); a bound on total allocation also
        // bounds every single one, so no count read from the file can make the reader allocate beyond it
        if (failure is null && attempt.Allocated > 4 * mutation.Length + (1 << 20))
            failure = $"allocated {attempt.Allocated} bytes for a {mutation.Length}-byte file";
        if (failure is not null)
            result.Failures.Add($"{name}: {mutation.Description}: {failure}");
    }

    private readonly record struct Outcome(bool Loaded, string? Failure, TimeSpan Elapsed, long Allocated);

    private static Outcome Attempt(string path, long length)
    {
        bool loaded = false;
        string? failure = null;
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        try
        {
            using var file = GgufFile.Open(path);
            loaded = true;
            failure = ReadEverything(file, length);
        }
        catch (GgufFormatException e)
        {
            if (e.FilePath != path || e.Offset < 0 || e.Offset > length || !e.Message.StartsWith($"{path}: at byte {e.Offset}: ", StringComparison.Ordinal))
                failure = $"badly formed error (file length {length}): {e.Message}";
        }
        catch (Exception e)
        {
            failure = $"{e.GetType().Name}: {e.Message}\n    {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}";
        }
        return new(loaded, failure, Stopwatch.GetElapsedTime(start), GC.GetAllocatedBytesForCurrentThread() - allocatedBefore);
    }

    /// <summary>Reads every tensor's first and last byte through both accessors; returns a broken invariant, if any.</summary>
    private static string? ReadEverything(GgufFile file, long length)
    {
        if (file.FileSize != length || file.Alignment <= 0 || (file.Alignment & (file.Alignment - 1)) != 0 || file.DataOffset % file.Alignment != 0)
            return $"inconsistent file: size {file.FileSize}, alignment {file.Alignment}, data offset {file.DataOffset}";
        foreach (var (key, value) in file.Metadata)
        {
            if (!file.TryGetValue(key, out var same) || !ReferenceEquals(same, value))
                return $"metadata '{key}' is not found by its key";
        }
        int sum = 0;
        foreach (var t in file.Tensors)
        {
            if ((ulong)file.DataOffset + t.Offset + (ulong)t.ByteCount > (ulong)length || t.Offset % (ulong)file.Alignment != 0)
                return $"tensor '{t.Name}' ({t.ByteCount} bytes at {t.Offset}) is outside the file or misaligned";
            var bytes = file.GetTensorBytes(t);
            if (bytes.Length != t.ByteCount || t.RowCount * t.RowBytes != t.ByteCount)
                return $"tensor '{t.Name}': {bytes.Length} bytes, expected {t.ByteCount}";
            var rows = file.GetTensorRows(t, 0, checked((int)t.RowCount));
            var lastRow = file.GetTensorRows(t, t.RowCount - 1, 1);
            sum += bytes[0] + bytes[^1] + rows[^1] + lastRow[0];
        }
        return sum < 0 ? "unreachable" : null;
    }

    /// <summary>One mutated version of a file: its new length and the byte ranges that differ from the original.</summary>
    private sealed class Mutation
    {
        private readonly List<(long Offset, byte[] Bytes)> _patches = [];
        private readonly long _originalLength;

        private Mutation(long originalLength, string description)
        {
            _originalLength = originalLength;
            Length = originalLength;
            Description = description;
        }

        public string Description { get; private set; }

        public long Length { get; private set; }

        private static readonly byte[] SpecialBytes = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF];

        public static Mutation Make(Random rng, byte[] original, GgufLayout layout)
        {
            long header = layout.HeaderEnd;
            long dataLength = original.Length - header;
            int pick = rng.Next(100);
            if (pick >= 93 && dataLength <= 0)
                pick = rng.Next(93); // no data section: mutate the header instead
            var m = new Mutation(original.Length, "");
            switch (pick)
            {
                case < 30:
                    {
                        int flips = 1 + (rng.Next(4) == 0 ? rng.Next(4) : 0);
                        m.Description = "bit flips";
                        for (int i = 0; i < flips; i++)
                        {
                            long at = rng.NextInt64(header);
                            int bit = rng.Next(8);
                            m.Patch(at, [(byte)(original[at] ^ (1 << bit))]);
                            m.Description += $" @{at}.{bit}";
                        }
                        break;
                    }
                case < 45:
                    {
                        int count = 1 + rng.Next(8);
                        long at = rng.NextInt64(Math.Max(1, header - count));
                        var bytes = new byte[count];
                        for (int i = 0; i < count; i++)
                            bytes[i] = rng.Next(2) == 0 ? SpecialBytes[rng.Next(SpecialBytes.Length)] : (byte)rng.Next(256);
                        m.Patch(at, bytes);
                        m.Description = $"overwrite @{at} with {Convert.ToHexString(bytes)}";
                        break;
                    }
                case < 75:
                    m.Description = m.SetField(rng, original, layout);
                    break;
                case < 80:
                    m.Description = m.SetField(rng, original, layout) + "; " + m.SetField(rng, original, layout);
                    break;
                case < 88:
                    {
                        long cut = rng.Next(4) == 0 ? rng.NextInt64(original.Length) : rng.NextInt64(Math.Min(original.Length, header + 64));
                        m.Length = cut;
                        m.Description = $"truncate to {cut} bytes";
                        break;
                    }
                case < 93:
                    {
                        long at = rng.NextInt64(header);
                        int count = 1 + rng.Next(16);
                        if (rng.Next(2) == 0)
                        {
                            var inserted = new byte[count];
                            rng.NextBytes(inserted);
                            m.Length = original.Length + count;
                            m.Patch(at, [.. inserted, .. original.AsSpan((int)at)]);
                            m.Description = $"insert {Convert.ToHexString(inserted)} @{at}";
                        }
                        else
                        {
                            count = (int)Math.Min(count, original.Length - at);
                            m.Length = original.Length - count;
                            m.Patch(at, original.AsSpan((int)(at + count)).ToArray());
                            m.Description = $"delete {count} bytes @{at}";
                        }
                        break;
                    }
                default:
                    {
                        int count = 1 + rng.Next(8);
                        m.Description = "data bytes";
                        for (int i = 0; i < count; i++)
                        {
                            long at = header + rng.NextInt64(dataLength);
                            byte b = (byte)rng.Next(256);
                            m.Patch(at, [b]);
                            m.Description += $" @{at}={b:X2}";
                        }
                        break;
                    }
            }
            return m;
        }

        /// <summary>Sets one structural field to a boundary, huge, nearby or random value.</summary>
        private string SetField(Random rng, byte[] original, GgufLayout layout)
        {
            var kinds = layout.Fields.Keys.ToArray();
            var kind = kinds[rng.Next(kinds.Length)];
            var offsets = layout.Fields[kind];
            long at = offsets[rng.Next(offsets.Count)];
            long length = original.Length;
            if (GgufLayout.Size(kind) == 8)
            {
                ulong was = BinaryPrimitives.ReadUInt64LittleEndian(original.AsSpan((int)at));
                ulong rest = (ulong)(length - at - 8);
                ulong[] choices =
                [
                    0, 1, 2, 8, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1UL << 32, long.MaxValue, 1UL << 63,
                    ulong.MaxValue, ulong.MaxValue - 7, (ulong)length, rest, rest + 1, rest / 4, rest / 8, rest / 12 + 1,
                    was + 1, was - 1, was + (ulong)rng.Next(1, 64), was - (ulong)rng.Next(1, 64), was * 2, was << 32,
                    was | (1UL << 63), (ulong)rng.NextInt64(), (ulong)rng.NextInt64() << 1, (ulong)rng.NextInt64(length),
                ];
                ulong value = choices[rng.Next(choices.Length)];
                var bytes = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
                Patch(at, bytes);
                return $"{kind} @{at} = {value} (was {was})";
            }
            else
            {
                uint was = BinaryPrimitives.ReadUInt32LittleEndian(original.AsSpan((int)at));
                uint[] choices =
                [
                    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 16, 31, 34, 35, 36, 39, 40, 64, 255, 4096, 1 << 20, 1 << 21,
                    0x7FFF_FFFF, 0x8000_0000, uint.MaxValue, was + 1, was - 1, was * 2, (uint)rng.Next(), (uint)rng.Next(64),
                ];
                uint value = choices[rng.Next(choices.Length)];
                var bytes = new byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
                Patch(at, bytes);
                return $"{kind} @{at} = {value} (was {was})";
            }
        }

        private void Patch(long offset, byte[] bytes) => _patches.Add((offset, bytes));

        public void ApplyTo(string path)
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
            if (Length != _originalLength)
                RandomAccess.SetLength(handle, Length);
            foreach (var (offset, bytes) in _patches)
                RandomAccess.Write(handle, bytes.AsSpan(0, (int)Math.Min(bytes.Length, Math.Max(0, Length - offset))), offset);
        }

        /// <summary>Writes back the original bytes of everything <see cref="ApplyTo"/> changed.</summary>
        public void Undo(string path, byte[] original)
        {
            long from = Length != _originalLength ? Math.Min(Length, _originalLength) : long.MaxValue;
            long to = Length != _originalLength ? _originalLength : 0;
            foreach (var (offset, bytes) in _patches)
            {
                from = Math.Min(from, offset);
                to = Math.Max(to, Math.Min(offset + bytes.Length, _originalLength));
            }
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
            if (Length != _originalLength)
                RandomAccess.SetLength(handle, _originalLength);
            if (from < to)
                RandomAccess.Write(handle, original.AsSpan((int)from, (int)(to - from)), from);
        }
    }

    private static int EnvironmentInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int value) && value > 0 ? value : fallback;
}
