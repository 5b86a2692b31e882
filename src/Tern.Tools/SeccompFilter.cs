using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Tern.Tools;

/// <summary>
/// The seccomp filter bubblewrap installs on the shell's commands (<c>bwrap --seccomp FD</c>): a classic BPF
/// program that refuses every way to give a file a setuid or setgid bit. When the server runs as root, the sandbox's
/// root is host root, so such a file left in the workspace would be a root shell for any local user on the host.
/// <list type="bullet">
/// <item>chmod, fchmod, fchmodat, fchmodat2 with 06000 in the mode, and open, openat, creat creating a file (O_CREAT
/// or O_TMPFILE) with them, and mknod, mknodat (which make regular files too, without a capability): EPERM.</item>
/// <item>openat2 (its mode is in a struct the filter cannot read; libc falls back to openat) and io_uring_setup (the
/// ring's operations bypass seccomp): ENOSYS.</item>
/// <item>Any other architecture's calls (32-bit x86 or ARM, whose numbers differ) kill the process; x32 calls on
/// x86_64 get ENOSYS.</item>
/// </list>
/// mkdir is left alone (the kernel drops setuid and setgid from its mode); chown and security.capability need
/// CAP_CHOWN and CAP_SETFCAP, which the sandbox drops; hard links into the workspace cross mounts (EXDEV).
/// Built for x86_64 and arm64; elsewhere <see cref="ForThisMachine"/> is null and the banner says the filter is missing.
/// </summary>
internal static class SeccompFilter
{
    private const int Creates = Posix.O_CREAT | 0x400000; // | __O_TMPFILE, the same on x86_64 and arm64
    private const int EPERM = 1;
    private const int ENOSYS = 38;

    private const uint AuditArchX86_64 = 0xC000003E;
    private const uint AuditArchAarch64 = 0xC00000B7;
    private const uint X32SyscallBit = 0x40000000;

    private const uint RetKillProcess = 0x80000000;
    private const uint RetErrno = 0x00050000;
    private const uint RetAllow = 0x7FFF0000;

    // classic BPF opcodes
    private const ushort LoadWord = 0x20; // BPF_LD | BPF_W | BPF_ABS
    private const ushort JumpEqual = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort JumpGreaterOrEqual = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    private const ushort JumpAnyBit = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    private const ushort Return = 0x06; // BPF_RET | BPF_K

    // struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (the low half first: little-endian)
    private const uint NrOffset = 0;
    private const uint ArchOffset = 4;

    /// <summary>What the filter checks in one system call.</summary>
    /// <param name="FlagsArgument">For the open family: the flags argument, the mode counting only when they create.</param>
    /// <param name="ModeArgument">The mode argument refused with 06000 in it, or null to refuse the call (ENOSYS).</param>
    private sealed record Rule(uint Number, int? FlagsArgument, int? ModeArgument);

    private static readonly Rule[] X86_64 =
    [
        new(2, 1, 2), // open(path, flags, mode)
        new(257, 2, 3), // openat(dir, path, flags, mode)
        new(85, null, 1), // creat(path, mode)
        new(90, null, 1), // chmod(path, mode)
        new(91, null, 1), // fchmod(fd, mode)
        new(268, null, 2), // fchmodat(dir, path, mode)
        new(452, null, 2), // fchmodat2(dir, path, mode, flags)
        new(133, null, 1), // mknod(path, mode, dev)
        new(259, null, 2), // mknodat(dir, path, mode, dev)
        new(437, null, null), // openat2
        new(425, null, null), // io_uring_setup
    ];

    private static readonly Rule[] Aarch64 =
    [
        new(56, 2, 3), // openat
        new(52, null, 1), // fchmod
        new(53, null, 2), // fchmodat
        new(452, null, 2), // fchmodat2
        new(33, null, 2), // mknodat
        new(437, null, null), // openat2
        new(425, null, null), // io_uring_setup
    ];

    /// <summary>
    /// The program for the architecture the server runs on, or null when there are no rules for it. Declared after
    /// the rule tables, which static initialization must have filled first.
    /// </summary>
    public static readonly byte[]? ForThisMachine = Build(RuntimeInformation.ProcessArchitecture);

    /// <summary>The program as bwrap reads it (struct sock_filter[]), or null on an architecture without rules.</summary>
    private static byte[]? Build(Architecture architecture)
    {
        var (arch, rules) = architecture switch
        {
            Architecture.X64 => (AuditArchX86_64, X86_64),
            Architecture.Arm64 => (AuditArchAarch64, Aarch64),
            _ => (0u, (Rule[]?)null),
        };
        if (rules is null)
        {
            return null;
        }

        var program = new List<(ushort Code, byte True, byte False, uint K)>
        {
            (LoadWord, 0, 0, ArchOffset),
            (JumpEqual, 1, 0, arch),
            (Return, 0, 0, RetKillProcess),
            (LoadWord, 0, 0, NrOffset),
        };
        if (architecture == Architecture.X64)
        {
            program.Add((JumpGreaterOrEqual, 0, 1, X32SyscallBit));
            program.Add((Return, 0, 0, RetErrno | ENOSYS));
        }

        foreach (var rule in rules)
        {
            var body = new List<(ushort, byte, byte, uint)>();
            if (rule.ModeArgument is not int mode)
            {
                body.Add((Return, 0, 0, RetErrno | ENOSYS));
            }
            else
            {
                if (rule.FlagsArgument is int flags)
                {
                    // not creating: the mode is ignored, skip to "allow"
                    body.Add((LoadWord, 0, 0, ArgumentOffset(flags)));
                    body.Add((JumpAnyBit, 0, 3, Creates));
                }

                body.Add((LoadWord, 0, 0, ArgumentOffset(mode)));
                body.Add((JumpAnyBit, 0, 1, Posix.SetuidOrSetgid));
                body.Add((Return, 0, 0, RetErrno | EPERM));
                body.Add((Return, 0, 0, RetAllow));
            }

            // A still holds the call's number when a rule does not match: rules only load after matching.
            program.Add((JumpEqual, 0, (byte)body.Count, rule.Number));
            program.AddRange(body);
        }

        program.Add((Return, 0, 0, RetAllow));

        var bytes = new byte[program.Count * 8];
        for (int i = 0; i < program.Count; i++)
        {
            var (code, jumpTrue, jumpFalse, k) = program[i];
            var slot = bytes.AsSpan(i * 8, 8);
            BinaryPrimitives.WriteUInt16LittleEndian(slot, code);
            slot[2] = jumpTrue;
            slot[3] = jumpFalse;
            BinaryPrimitives.WriteUInt32LittleEndian(slot[4..], k);
        }

        return bytes;
    }

    private static uint ArgumentOffset(int index) => 16 + (8 * (uint)index);
}

/// <summary>
/// The filter program in a file of a new private directory (0700, random name) for one command: the sh wrapper
/// opens it as bwrap's descriptor. One per command, so nothing can swap it between commands and nothing outlives them.
/// </summary>
internal sealed class SeccompFilterFile : IDisposable
{
    private readonly DirectoryInfo _directory;

    public SeccompFilterFile(byte[] program)
    {
        _directory = Directory.CreateTempSubdirectory("tern-seccomp-");
        try
        {
            Path = System.IO.Path.Combine(_directory.FullName, "filter.bpf");
            File.WriteAllBytes(Path, program);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // already gone
        }
    }
}
