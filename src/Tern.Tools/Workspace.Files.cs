using Microsoft.Win32.SafeHandles;

namespace Tern.Tools;

public sealed partial class Workspace
{
    /// <summary>
    /// Opens a regular file for reading and checks the open descriptor again (type, link count, real path), so a
    /// file swapped for a link or a FIFO after <see cref="Resolve"/> is refused instead of followed. O_NONBLOCK keeps
    /// a FIFO swapped in from blocking the open.
    /// </summary>
    internal FileStream OpenRead(string fullPath, string shown)
    {
        var handle = Posix.Open(null, fullPath, Posix.O_RDONLY | Posix.O_NONBLOCK | Posix.O_NOCTTY | Posix.O_NOFOLLOW, 0, out int errno);
        if (handle.IsInvalid)
        {
            throw new ToolSandboxException(errno == Posix.ELOOP
                ? $"{shown} was replaced by a symbolic link while being opened"
                : $"cannot open {shown}: {Posix.Describe(errno)}");
        }

        try
        {
            if (!Posix.TryStat(handle, out var status, out errno))
            {
                throw new ToolSandboxException($"cannot open {shown}: {Posix.Describe(errno)}");
            }

            CheckUsable(status, shown);
            if (status.IsDirectory)
            {
                throw new ToolSandboxException($"{shown} is a directory");
            }

            string? now = Posix.PathOf(handle);
            if (now is null || !IsInside(now))
            {
                throw new ToolSandboxException($"{shown} leads outside the workspace");
            }

            return new FileStream(handle, FileAccess.Read, bufferSize: 0);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Replaces (or creates) a file atomically: missing parent directories are created one at a time relative to an
    /// open, verified directory; the bytes go to a new temporary file in the target's directory, which is flushed and
    /// renamed over the target. Readers see the old content or the new one, never a mix, and a failure at any step
    /// leaves the old content and removes the temporary file. Returns true when the file did not exist before.
    /// The old file's rwx permission bits (and owner, when allowed) are kept; setuid, setgid and sticky bits never are.
    /// </summary>
    /// <param name="beforeRename">Test hook: runs after the temporary file is written, before the rename.</param>
    internal bool WriteAtomically(WorkspaceEntry entry, ReadOnlySpan<byte> content, Action? beforeRename = null)
    {
        if (entry.Kind == WorkspaceEntryKind.Directory)
        {
            throw new ToolSandboxException($"{entry.Shown} is a directory");
        }

        string[] missing = entry.MissingNames;
        string startDirectory = entry.Kind == WorkspaceEntryKind.Missing
            ? entry.ExistingAncestor
            : System.IO.Path.GetDirectoryName(entry.FullPath)!;
        string[] directoriesToCreate = entry.Kind == WorkspaceEntryKind.Missing ? missing[..^1] : [];
        string name = entry.Kind == WorkspaceEntryKind.Missing ? missing[^1] : System.IO.Path.GetFileName(entry.FullPath);

        SafeFileHandle directory = OpenDirectory(null, startDirectory, entry.Shown);
        try
        {
            foreach (string part in directoriesToCreate)
            {
                int error = Posix.MakeDirectoryAt(directory, part, 0x1ff);
                if (error != 0 && error != Posix.EEXIST)
                {
                    throw new ToolSandboxException($"cannot create the directories for {entry.Shown}: {Posix.Describe(error)}");
                }

                var child = OpenDirectory(directory, part, entry.Shown);
                directory.Dispose();
                directory = child;
            }

            return WriteInDirectory(directory, name, entry.Shown, content, beforeRename);
        }
        finally
        {
            directory.Dispose();
        }
    }

    private bool WriteInDirectory(SafeFileHandle directory, string name, string shown, ReadOnlySpan<byte> content, Action? beforeRename)
    {
        bool exists = Posix.TryStatAt(directory, name, followLinks: false, out var old, out _);
        if (exists && old.IsDirectory)
        {
            throw new ToolSandboxException($"{shown} is a directory");
        }

        if (exists && !old.IsSymbolicLink)
        {
            // A link appearing here after Resolve is replaced by the rename, never followed; anything else is checked.
            CheckUsable(old, shown);
        }

        string temporary = $".tern-write-{Guid.NewGuid():N}.tmp";
        // Only the rwx bits are kept: a setuid or setgid bit on new content would run it as the old file's owner or group.
        int mode = exists && old.IsRegularFile ? old.Permissions & Posix.AccessBits : 0x1b6; // 0666 minus the umask for new files
        var handle = Posix.Open(directory, temporary, Posix.O_WRONLY | Posix.O_CREAT | Posix.O_EXCL | Posix.O_NOFOLLOW, mode, out int errno);
        if (handle.IsInvalid)
        {
            throw new ToolSandboxException($"cannot write {shown}: {Posix.Describe(errno)}");
        }

        bool renamed = false;
        try
        {
            using (var stream = new FileStream(handle, FileAccess.Write, bufferSize: 0))
            {
                stream.Write(content);
                if (exists && old.IsRegularFile)
                {
                    if (Posix.IsRoot)
                    {
                        Posix.ChangeOwner(handle, old.Uid, old.Gid);
                    }

                    Posix.ChangeMode(handle, mode);
                }

                stream.Flush(flushToDisk: true);
            }

            beforeRename?.Invoke();
            int error = Posix.RenameAt(directory, temporary, name);
            if (error != 0)
            {
                throw new ToolSandboxException($"cannot write {shown}: {Posix.Describe(error)}");
            }

            renamed = true;
            return !exists;
        }
        finally
        {
            handle.Dispose();
            if (!renamed)
            {
                Posix.UnlinkAt(directory, temporary);
            }
        }
    }

    /// <summary>Opens a directory (O_PATH, not following a final link) and checks that it is inside the workspace.</summary>
    private SafeFileHandle OpenDirectory(SafeFileHandle? parent, string path, string shown)
    {
        var handle = Posix.Open(parent, path, Posix.O_PATH | Posix.O_DIRECTORY | Posix.O_NOFOLLOW, 0, out int errno);
        if (handle.IsInvalid)
        {
            throw new ToolSandboxException(errno == Posix.ENOTDIR || errno == Posix.ELOOP
                ? $"{shown}: a directory on the way was replaced by something else"
                : $"cannot open the directory of {shown}: {Posix.Describe(errno)}");
        }

        string? real = Posix.PathOf(handle);
        if (real is null || !IsInside(real))
        {
            handle.Dispose();
            throw new ToolSandboxException($"{shown} leads outside the workspace");
        }

        return handle;
    }
}
