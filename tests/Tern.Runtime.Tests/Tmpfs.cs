using System.Diagnostics;

namespace Tern.Runtime.Tests;

/// <summary>A tiny tmpfs for disk-full tests (they run as root here); linked into the CLI tests too.</summary>
internal static class Tmpfs
{
    /// <summary>Mounts a 64 KiB tmpfs on <paramref name="path"/>.</summary>
    public static void Mount(string path)
    {
        using var mount = Process.Start(new ProcessStartInfo("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", path]) { RedirectStandardError = true })!;
        mount.WaitForExit();
        Xunit.Assert.True(mount.ExitCode == 0, "mount a tmpfs: " + mount.StandardError.ReadToEnd());
    }

    public static void Unmount(string path) => Process.Start("umount", path)!.WaitForExit();
}
