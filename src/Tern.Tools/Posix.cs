using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Tern.Tools;

/// <summary>
/// The few libc calls .NET does not expose: realpath, statx (link count and file type), and the *at family, so that
/// the sandbox can check a directory once and then create, rename and remove entries relative to that open
/// directory instead of re-resolving a path that may have been swapped for a symbolic link in between.
/// Paths cross the boundary as NUL-terminated UTF-8 byte arrays (no string marshalling, no unsafe code).
/// </summary>
internal static class Posix
{
    public const int AtFdCwd = -100;
    public const int AtSymlinkNoFollow = 0x100;
    public const int AtRemoveDir = 0x200;
    public const int AtEmptyPath = 0x1000;

    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EBADF = 9;
    public const int EACCES = 13;
    public const int EEXIST = 17;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int ENAMETOOLONG = 36;
    public const int ELOOP = 40;

    public const int SIGKILL = 9;

    /// <summary>S_ISUID | S_ISGID (06000): the mode bits that make a program run as its owner or group.</summary>
    public const int SetuidOrSetgid = 0xC00;

    /// <summary>The rwx bits of owner, group and others (0777), without setuid, setgid and sticky.</summary>
    public const int AccessBits = 0x1FF;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_APPEND = 0x400;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;

    // These two differ between x86 (generic) and ARM.
    public static readonly int O_DIRECTORY = IsArm ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = IsArm ? 0x8000 : 0x20000;

    private static bool IsArm => RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64;

    public static byte[] CString(string path)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(path) + 1];
        Encoding.UTF8.GetBytes(path, bytes);
        return bytes;
    }

    /// <summary>The canonical absolute path (every symlink, <c>.</c> and <c>..</c> resolved), or null with errno.</summary>
    public static string? RealPath(string path, out int errno)
    {
        IntPtr result = realpath(CString(path), IntPtr.Zero);
        if (result == IntPtr.Zero)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }

        try
        {
            errno = 0;
            return Marshal.PtrToStringUTF8(result);
        }
        finally
        {
            free(result);
        }
    }

    /// <summary>The path an open descriptor refers to now (through /proc/self/fd), or null.</summary>
    public static string? PathOf(SafeFileHandle handle) =>
        RealPath("/proc/self/fd/" + handle.DangerousGetHandle().ToInt32().ToString(System.Globalization.CultureInfo.InvariantCulture), out _);

    public static bool TryStat(string path, bool followLinks, out FileStatus status, out int errno) =>
        TryStatAt(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, out status, out errno);

    public static bool TryStat(SafeFileHandle handle, out FileStatus status, out int errno)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return TryStatAt(handle.DangerousGetHandle().ToInt32(), "", AtEmptyPath, out status, out errno);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    public static bool TryStatAt(SafeFileHandle directory, string name, bool followLinks, out FileStatus status, out int errno)
    {
        bool added = false;
        try
        {
            directory.DangerousAddRef(ref added);
            return TryStatAt(directory.DangerousGetHandle().ToInt32(), name, followLinks ? 0 : AtSymlinkNoFollow, out status, out errno);
        }
        finally
        {
            if (added)
            {
                directory.DangerousRelease();
            }
        }
    }

    private static bool TryStatAt(int dirfd, string path, int flags, out FileStatus status, out int errno)
    {
        const uint basicStats = 0x7ff; // STATX_BASIC_STATS
        if (statx(dirfd, CString(path), flags, basicStats, out var buffer) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            status = default;
            return false;
        }

        errno = 0;
        status = new FileStatus(buffer.Mode & 0xFFFF, buffer.LinkCount, buffer.Size, buffer.Uid, buffer.Gid)
        {
            Blocks = buffer.Blocks,
            Inode = buffer.Inode,
            Device = ((ulong)buffer.DeviceMajor << 32) | buffer.DeviceMinor,
        };
        return true;
    }

    /// <summary>open(2) relative to <paramref name="directory"/> (or the current directory when null).</summary>
    public static SafeFileHandle Open(SafeFileHandle? directory, string path, int flags, int mode, out int errno)
    {
        bool added = false;
        try
        {
            int dirfd = AtFdCwd;
            if (directory is not null)
            {
                directory.DangerousAddRef(ref added);
                dirfd = directory.DangerousGetHandle().ToInt32();
            }

            int fd = openat(dirfd, CString(path), flags | O_CLOEXEC, mode);
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            return new SafeFileHandle(fd, ownsHandle: fd >= 0);
        }
        finally
        {
            if (added)
            {
                directory!.DangerousRelease();
            }
        }
    }

    /// <summary>write(2) until every byte is written; 0 or the errno of the failing call.</summary>
    public static int WriteAll(SafeFileHandle file, byte[] bytes) =>
        WithFd(file, fd =>
        {
            int done = 0;
            while (done < bytes.Length)
            {
                nint written = write(fd, ref bytes[done], bytes.Length - done);
                if (written < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno != EINTR)
                    {
                        return errno;
                    }
                }
                else
                {
                    done += (int)written;
                }
            }

            return 0;
        });

    public static int MakeDirectoryAt(SafeFileHandle directory, string name, int mode) =>
        WithFd(directory, fd => mkdirat(fd, CString(name), (uint)mode) == 0 ? 0 : Marshal.GetLastPInvokeError());

    public static int RenameAt(SafeFileHandle directory, string from, string to) =>
        WithFd(directory, fd => renameat(fd, CString(from), fd, CString(to)) == 0 ? 0 : Marshal.GetLastPInvokeError());

    public static int UnlinkAt(SafeFileHandle directory, string name) =>
        WithFd(directory, fd => unlinkat(fd, CString(name), 0) == 0 ? 0 : Marshal.GetLastPInvokeError());

    public static int ChangeMode(SafeFileHandle file, int mode) =>
        WithFd(file, fd => fchmod(fd, (uint)mode) == 0 ? 0 : Marshal.GetLastPInvokeError());

    public static int ChangeOwner(SafeFileHandle file, uint uid, uint gid) =>
        WithFd(file, fd => fchown(fd, uid, gid) == 0 ? 0 : Marshal.GetLastPInvokeError());

    public static int Link(string existing, string newPath) =>
        link(CString(existing), CString(newPath)) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static int MakeFifo(string path, int mode) =>
        mkfifo(CString(path), (uint)mode) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static int KillProcessGroup(int processGroup, int signal) =>
        kill(-processGroup, signal) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static int Kill(int pid, int signal) => kill(pid, signal) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static bool IsRoot => geteuid() == 0;

    public static string Describe(int errno) => errno switch
    {
        ENOENT => "no such file or directory",
        EACCES => "permission denied",
        EEXIST => "already exists",
        ENOTDIR => "a component of the path is not a directory",
        EISDIR => "is a directory",
        ENAMETOOLONG => "the name is too long",
        ELOOP => "too many levels of symbolic links",
        _ => Marshal.GetPInvokeErrorMessage(errno),
    };

    private static int WithFd(SafeFileHandle handle, Func<int, int> call)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return call(handle.DangerousGetHandle().ToInt32());
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    // struct statx is the same on every Linux architecture (256 bytes); only the fields read here are declared.
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(16)]
        public uint LinkCount;

        [FieldOffset(20)]
        public uint Uid;

        [FieldOffset(24)]
        public uint Gid;

        [FieldOffset(28)]
        public ushort Mode;

        [FieldOffset(32)]
        public ulong Inode;

        [FieldOffset(40)]
        public ulong Size;

        [FieldOffset(48)]
        public ulong Blocks;

        [FieldOffset(136)]
        public uint DeviceMajor;

        [FieldOffset(140)]
        public uint DeviceMinor;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern IntPtr realpath(byte[] path, IntPtr resolved);

    [DllImport("libc")]
    private static extern void free(IntPtr pointer);

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, byte[] path, int flags, uint mask, out StatxBuffer buffer);

    [DllImport("libc", SetLastError = true)]
    private static extern int openat(int dirfd, byte[] path, int flags, int mode);

    [DllImport("libc", SetLastError = true)]
    private static extern nint write(int fd, ref byte buffer, nint count);

    [DllImport("libc", SetLastError = true)]
    private static extern int mkdirat(int dirfd, byte[] path, uint mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int renameat(int olddirfd, byte[] oldpath, int newdirfd, byte[] newpath);

    [DllImport("libc", SetLastError = true)]
    private static extern int unlinkat(int dirfd, byte[] path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fchmod(int fd, uint mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int fchown(int fd, uint uid, uint gid);

    [DllImport("libc", SetLastError = true)]
    private static extern int link(byte[] existing, byte[] newPath);

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(byte[] path, uint mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [DllImport("libc")]
    private static extern uint geteuid();
}

/// <summary>The parts of stat(2) the sandbox checks.</summary>
internal readonly record struct FileStatus(int Mode, uint LinkCount, ulong Size, uint Uid, uint Gid)
{
    private const int TypeMask = 0xF000;

    /// <summary>512-byte blocks allocated (st_blocks): the disk a file really takes, sparse or not.</summary>
    public ulong Blocks { get; init; }

    public ulong Inode { get; init; }

    /// <summary>The file system's device number (major in the high 32 bits).</summary>
    public ulong Device { get; init; }

    public bool IsRegularFile => (Mode & TypeMask) == 0x8000;

    public bool IsDirectory => (Mode & TypeMask) == 0x4000;

    public bool IsSymbolicLink => (Mode & TypeMask) == 0xA000;

    public int Permissions => Mode & 0xFFF;

    /// <summary>What the entry is, in words, for refusals ("a FIFO (named pipe)").</summary>
    public string KindDescription => (Mode & TypeMask) switch
    {
        0x8000 => "a regular file",
        0x4000 => "a directory",
        0xA000 => "a symbolic link",
        0x2000 => "a character device",
        0x6000 => "a block device",
        0x1000 => "a FIFO (named pipe)",
        0xC000 => "a socket",
        _ => "a special file",
    };
}
