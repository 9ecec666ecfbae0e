using ArchNet.Backends.Abstractions;
using ArchNet.IR;

namespace ArchNet.Backends.Plugins;

/// <summary>Where a backend came from: built into archnetc, or a plugin assembly on disk.</summary>
public enum BackendOrigin { BuiltIn, Plugin }

/// <summary>
/// A backend the catalog knows: usable (<see cref="Backend"/> set, already guarded) or broken (<see cref="Problem"/>
/// says why, in a line that names the plugin). A broken plugin only fails compiles that ask for it.
/// </summary>
public sealed record BackendEntry(string Name, BackendOrigin Origin, string? Path, IBackend? Backend, string? Problem)
{
    public IReadOnlyList<string> ServedTargets => Backend?.ServedTargets ?? [];
    public bool IsUsable => Backend is not null;
}

/// <summary>
/// The built-in backends plus those discovered in plugin folders. Plugin folders come from <c>--plugin-dir</c>
/// (repeatable) and the <c>ARCHNET_PLUGIN_PATH</c> environment variable (folders separated by the platform's path
/// separator). A plugin is a folder holding <c>NAME.dll</c> where NAME is the folder's name, with its dependencies and
/// <c>.deps.json</c> beside it; a plugin folder may be named directly, or sit one level below a named folder.
/// </summary>
public sealed class BackendCatalog : IDisposable
{
    public const string PluginPathVariable = "ARCHNET_PLUGIN_PATH";

    private readonly List<BackendEntry> _entries = [];
    private readonly List<IDisposable> _loaders = [];

    private BackendCatalog() { }

    public IReadOnlyList<BackendEntry> Entries => _entries;

    /// <summary>
    /// Builds the catalog. Problems found while loading plugins (a folder that does not exist, a wrong contract version,
    /// an assembly that fails to load) are recorded on the entry and reported as warnings, never thrown: built-in
    /// backends must keep working whatever sits in a plugin folder.
    /// </summary>
    public static BackendCatalog Discover(IEnumerable<IBackend> builtIns, IEnumerable<string> pluginDirectories,
        IDiagnostics diagnostics, string? pluginPathVariable = null)
    {
        var catalog = new BackendCatalog();
        foreach (var b in builtIns) catalog._entries.Add(new(b.Name, BackendOrigin.BuiltIn, null, new GuardedBackend(b, "built-in backend"), null));
        var dirs = pluginDirectories.ToList();
        if (!string.IsNullOrWhiteSpace(pluginPathVariable))
            dirs.AddRange(pluginPathVariable.Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        foreach (var assembly in PluginAssemblies(dirs, diagnostics).Distinct(StringComparer.Ordinal))
        {
            foreach (var entry in PluginLoading.Load(assembly, catalog._loaders))
            {
                if (catalog._entries.FirstOrDefault(e => e.Name == entry.Name && e.IsUsable) is { } clash && entry.IsUsable)
                {
                    var reason = $"backend plugin '{entry.Name}' ({entry.Path}) has the same name as the {(clash.Origin == BackendOrigin.BuiltIn ? "built-in backend" : $"plugin at {clash.Path}")}; it is ignored";
                    diagnostics.Warning(reason);
                    catalog._entries.Add(entry with { Backend = null, Problem = reason });
                    continue;
                }
                if (entry.Problem is not null) diagnostics.Warning(entry.Problem);
                catalog._entries.Add(entry);
            }
        }
        return catalog;
    }

    /// <summary>Discovery with ARCHNET_PLUGIN_PATH read from the environment.</summary>
    public static BackendCatalog Discover(IEnumerable<IBackend> builtIns, IEnumerable<string> pluginDirectories, IDiagnostics diagnostics) =>
        Discover(builtIns, pluginDirectories, diagnostics, Environment.GetEnvironmentVariable(PluginPathVariable));

    /// <summary>The usable backend called <paramref name="name"/>; throws a user error naming the plugin when it is broken or unknown.</summary>
    public IBackend Get(string name)
    {
        var usable = _entries.FirstOrDefault(e => e.Name == name && e.IsUsable);
        if (usable is not null) return usable.Backend!;
        var broken = _entries.FirstOrDefault(e => e.Name == name);
        if (broken is not null) throw new ArchNetException(broken.Problem!, ExitCodes.PluginFailed);
        var known = string.Join(", ", _entries.Where(e => e.IsUsable).Select(e => e.Name).Distinct());
        throw new ArchNetException($"unknown backend '{name}' (known: {known}; plugins are loaded with --plugin-dir DIR or {PluginPathVariable})");
    }

    /// <summary>Whether <paramref name="backend"/> declares <paramref name="target"/> (or any target).</summary>
    public static bool Serves(IBackend backend, string target) =>
        backend.ServedTargets.Any(t => t == "*" || string.Equals(t, target, StringComparison.OrdinalIgnoreCase));

    private static IEnumerable<string> PluginAssemblies(IEnumerable<string> dirs, IDiagnostics diagnostics)
    {
        foreach (var raw in dirs)
        {
            var dir = System.IO.Path.GetFullPath(raw);
            if (!Directory.Exists(dir))
            {
                diagnostics.Warning($"plugin folder '{raw}' does not exist");
                continue;
            }
            var own = System.IO.Path.Combine(dir, System.IO.Path.GetFileName(dir) + ".dll");
            if (File.Exists(own))
            {
                yield return own;
                continue;
            }
            var found = 0;
            foreach (var sub in Directory.GetDirectories(dir).Order(StringComparer.Ordinal))
            {
                var candidate = System.IO.Path.Combine(sub, System.IO.Path.GetFileName(sub) + ".dll");
                if (!File.Exists(candidate)) continue;
                found++;
                yield return candidate;
            }
            if (found == 0)
            {
                // Pointing at a plugin's own build output under another name is the usual slip: say how a plugin is laid out.
                var here = Directory.GetFiles(dir, "*.dll").Select(f => System.IO.Path.GetFileNameWithoutExtension(f)!).Order(StringComparer.Ordinal).ToList();
                var example = here.FirstOrDefault(n => !n.StartsWith("ArchNet.", StringComparison.Ordinal)) ?? "NAME";
                diagnostics.Warning($"plugin folder '{raw}' holds no plugin: a plugin lives in DIR/NAME/NAME.dll (give DIR), or in a folder named " +
                    "NAME holding NAME.dll (give that folder)" + (here.Count == 0 ? "" : $"; this one holds {string.Join(", ", here.Take(3).Select(n => n + ".dll"))}" +
                    $"{(here.Count > 3 ? ", ..." : "")}: copy them into plugins/{example}/ and give plugins"));
            }
        }
    }

    public void Dispose()
    {
        foreach (var l in _loaders) l.Dispose();
        _loaders.Clear();
    }
}
