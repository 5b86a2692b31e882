using System.CommandLine;
using System.Globalization;
using Tern.Server;
using YamlDotNet.Core;
using static Tern.Cli.Tests.YamlDocuments;

namespace Tern.Cli.Tests;

/// <summary>
/// docs/deploy (the Dockerfile and the Kubernetes manifests), checked without a cluster or a docker daemon: every file
/// parses; the container's command line is one `tern serve` accepts; probes, ports, users and the drain fit together;
/// and the endpoint picker reads metric names a real Tern serves.
/// </summary>
public sealed class DeployFilesTests
{
    private static string DeployFile(string relative) => SharedData.Repository(Path.Combine("docs", "deploy", relative));

    private static readonly DockerfileSyntax Dockerfile = new(File.ReadAllText(DeployFile("Dockerfile")));

    private static readonly List<(string File, Dictionary<object, object> Doc)> Manifests =
        Directory.GetFiles(DeployFile("kubernetes"), "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml")
            .Order(StringComparer.Ordinal).SelectMany(f => Parse(File.ReadAllText(f)).Select(d => (Path.GetFileName(f), d))).ToList();

    private static Dictionary<object, object> Resource(string kind, string name) =>
        Manifests.Single(m => Text(m.Doc, "kind") == kind && Text(m.Doc, "metadata", "name") == name).Doc;

    private static Dictionary<object, object> TernPod => Map(Resource("Deployment", "tern"), "spec", "template");

    private static Dictionary<object, object> TernContainer =>
        (Dictionary<object, object>)List(TernPod, "spec", "containers").Single(c => Text(c, "name") == "tern");

    private static string[] ContainerArgs => List(TernContainer, "args").Cast<string>().ToArray();

    [Fact]
    public void Every_manifest_document_parses_with_apiVersion_kind_and_a_name()
    {
        Assert.True(Manifests.Count >= 10, string.Join(", ", Manifests.Select(m => m.File)));
        foreach (var (_, doc) in Manifests)
        {
            Assert.Matches("^([a-z0-9.-]+/)?v[0-9]+((alpha|beta)[0-9]+)?$", Text(doc, "apiVersion"));
            Assert.Matches("^[A-Z][A-Za-z]+$", Text(doc, "kind"));
            Assert.Matches("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", Text(doc, "metadata", "name")); // a DNS label: valid for every kind here
        }

        Assert.Equal(Manifests.Count, Manifests.Select(m => (Text(m.Doc, "kind"), Text(m.Doc, "metadata", "name"))).Distinct().Count());
    }

    [Fact]
    public void Kustomization_applies_every_manifest()
    {
        var kustomization = Parse(File.ReadAllText(DeployFile("kubernetes/kustomization.yaml"))).Single();

        Assert.Equal("Kustomization", Text(kustomization, "kind"));
        Assert.Equal(Manifests.Select(m => m.File).Distinct().Order(StringComparer.Ordinal), List(kustomization, "resources").Cast<string>().Order(StringComparer.Ordinal));
        Assert.Contains(List(kustomization, "images"), i => Text(i, "name") == Text(TernContainer, "image").Split(':')[0]);
    }

    [Fact]
    public void Dockerfile_builds_in_named_stages_and_runs_tern_serve_as_the_pods_non_root_user()
    {
        Assert.Equal(["build", "run"], Dockerfile.Stages);
        Assert.Equal(["/app/tern", "serve"], Dockerfile.Entrypoint[..2]);
        var parse = Serve(Dockerfile.Entrypoint[2..].Concat(Dockerfile.Cmd)); // docker run IMAGE, as it is
        Assert.Equal("0.0.0.0", parse.GetValue<string>("--host"));
        int port = parse.GetValue<int>("--port");
        Assert.Equal([port], Dockerfile.Exposed);
        Assert.StartsWith("/models/", parse.GetValue<string>("--model"), StringComparison.Ordinal);

        Assert.Equal(Text(TernPod, "spec", "securityContext", "runAsUser"), Dockerfile.User.Split(':')[0]);
        Assert.Equal("/tmp", Dockerfile.Env["TMPDIR"]);
        Assert.Equal("0", Dockerfile.Env["DOTNET_EnableDiagnostics"]); // no diagnostics sockets to write on a read-only root
        string check = string.Join(' ', Dockerfile.HealthcheckCmd);
        Assert.Contains($"/dev/tcp/127.0.0.1/{port} ", check, StringComparison.Ordinal);
        Assert.Contains("GET /health ", check, StringComparison.Ordinal);
    }

    [Fact]
    public void Deployment_runs_the_image_entrypoint_with_real_serve_flags_on_its_container_port()
    {
        Assert.Null(Find(TernContainer, "command")); // the image's ENTRYPOINT runs; args replace its CMD
        var parse = Serve(Dockerfile.Entrypoint[2..].Concat(ContainerArgs));

        Assert.Equal("0.0.0.0", parse.GetValue<string>("--host"));
        Assert.Equal(parse.GetValue<int>("--port"), Int(List(TernContainer, "ports").Single(), "containerPort"));
    }

    [Fact]
    public void Startup_readiness_and_liveness_probes_ask_health_on_the_served_port()
    {
        int port = Serve(Dockerfile.Entrypoint[2..].Concat(ContainerArgs)).GetValue<int>("--port");
        foreach (string probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
        {
            Assert.Equal("/health", Text(TernContainer, probe, "httpGet", "path"));
            Assert.Equal(port, ContainerPort(Text(TernContainer, probe, "httpGet", "port")));
        }

        Assert.Equal(1, Int(TernContainer, "readinessProbe", "failureThreshold")); // one 503 "draining" takes the replica out
    }

    [Fact]
    public void Grace_period_and_liveness_outlast_the_prestop_sleep_and_the_drain()
    {
        var serve = ServeCommand.Create(TextWriter.Null);
        var parse = Serve(Dockerfile.Entrypoint[2..].Concat(ContainerArgs));
        // The drain's timeout (the args' --drain-timeout, else its default); a build without graceful drain stops at once.
        int drain = serve.Options.Any(o => o.Name == "--drain-timeout") ? parse.GetValue<int>("--drain-timeout") : 0;
        int preStop = Int(TernContainer, "lifecycle", "preStop", "sleep", "seconds");

        Assert.True(Int(TernPod, "spec", "terminationGracePeriodSeconds") > preStop + drain, $"grace period <= {preStop} + {drain}");
        // /health answers 503 while draining: the liveness probe must not give up (and restart the pod) before the drain ends.
        Assert.True(Int(TernContainer, "livenessProbe", "failureThreshold") * Int(TernContainer, "livenessProbe", "periodSeconds") > drain);
    }

    [Fact]
    public void Pod_runs_non_root_on_a_read_only_root_with_the_model_read_only_and_tmp_writable()
    {
        var pod = Map(TernPod, "spec", "securityContext");
        var container = Map(TernContainer, "securityContext");
        Assert.Equal("true", Text(pod, "runAsNonRoot"));
        Assert.NotEqual("0", Text(pod, "runAsUser"));
        Assert.Equal("true", Text(container, "runAsNonRoot"));
        Assert.Equal("true", Text(container, "readOnlyRootFilesystem"));
        Assert.Equal("false", Text(container, "allowPrivilegeEscalation"));
        Assert.Equal(["ALL"], List(container, "capabilities", "drop").Cast<string>());
        Assert.Null(Find(container, "privileged"));

        var mounts = List(TernContainer, "volumeMounts");
        var volumes = List(TernPod, "spec", "volumes");
        string model = Serve(Dockerfile.Entrypoint[2..].Concat(ContainerArgs)).GetValue<string>("--model")!;
        var modelMount = mounts.Single(m => model.StartsWith(Text(m, "mountPath") + "/", StringComparison.Ordinal));
        Assert.Equal("true", Text(modelMount, "readOnly"));
        var modelVolume = volumes.Single(v => Text(v, "name") == Text(modelMount, "name"));
        Assert.Equal("true", Text(modelVolume, "persistentVolumeClaim", "readOnly"));
        var claim = Resource("PersistentVolumeClaim", Text(modelVolume, "persistentVolumeClaim", "claimName"));
        Assert.Equal(["ReadOnlyMany"], List(claim, "spec", "accessModes").Cast<string>());

        var tmp = mounts.Single(m => Text(m, "mountPath") == Dockerfile.Env["TMPDIR"]);
        Assert.NotNull(Find(volumes.Single(v => Text(v, "name") == Text(tmp, "name")), "emptyDir"));
        Assert.Null(Find(tmp, "readOnly"));
    }

    [Fact]
    public void Cpu_request_is_the_thread_count_and_limits_cover_the_requests()
    {
        var parse = Serve(Dockerfile.Entrypoint[2..].Concat(ContainerArgs));
        var resources = Map(TernContainer, "resources");

        Assert.Equal(parse.GetValue<int>("--threads").ToString(CultureInfo.InvariantCulture), Text(resources, "requests", "cpu"));
        Assert.Equal(Text(resources, "requests", "cpu"), Text(resources, "limits", "cpu"));
        long memory = Mebibytes(Text(resources, "requests", "memory"));
        Assert.True(memory >= 2048, $"{memory} MiB is below the measured ~2047 MiB (weights + KV + overhead: tern.yaml)");
        Assert.True(Mebibytes(Text(resources, "limits", "memory")) >= memory);
    }

    [Fact]
    public void InferencePool_selects_the_tern_pods_and_names_its_picker_whose_config_is_mounted()
    {
        var pool = Map(Resource("InferencePool", "tern"), "spec");
        Assert.Equal("inference.networking.k8s.io/v1", Text(Resource("InferencePool", "tern"), "apiVersion"));
        var podLabels = Map(TernPod, "metadata", "labels");
        Assert.All(Map(pool, "selector", "matchLabels"), l => Assert.Equal(l.Value, podLabels[l.Key]));
        Assert.Equal(ContainerPort("http"), Int(List(pool, "targetPorts").Single(), "number"));

        var epp = Resource("Service", Text(pool, "endpointPickerRef", "name"));
        Assert.Contains(List(epp, "spec", "ports"), p => Text(p, "port") == Text(pool, "endpointPickerRef", "port", "number"));
        var pickerPod = Map(Resource("Deployment", "tern-epp"), "spec", "template");
        Assert.All(Map(epp, "spec", "selector"), l => Assert.Equal(l.Value, Map(pickerPod, "metadata", "labels")[l.Key]));
        var picker = List(pickerPod, "spec", "containers").Single();
        var args = List(picker, "args").Cast<string>().ToList();
        Assert.Equal("tern", args[args.IndexOf("--pool-name") + 1]);
        string configFile = args[args.IndexOf("--config-file") + 1];
        var configMount = List(picker, "volumeMounts").Single();
        Assert.Equal(Text(configMount, "mountPath"), Path.GetDirectoryName(configFile));
        Assert.True(Map(Resource("ConfigMap", "tern-epp"), "data").ContainsKey(Path.GetFileName(configFile)));

        var backend = List(Resource("HTTPRoute", "tern"), "spec", "rules").Cast<object>().SelectMany(r => List(r, "backendRefs")).Single();
        Assert.Equal(("inference.networking.k8s.io", "InferencePool", "tern"), (Text(backend, "group"), Text(backend, "kind"), Text(backend, "name")));
    }

    [Fact]
    public async Task Endpoint_picker_reads_metric_names_that_a_real_Tern_serves()
    {
        var config = Parse(Text(Resource("ConfigMap", "tern-epp"), "data", "epp-config.yaml")).Single();
        var plugins = List(config, "plugins");
        var names = plugins.Select(p => Find(p, "name") as string ?? Text(p, "type")).ToHashSet();
        Assert.All(List(config, "schedulingProfiles").SelectMany(s => List(s, "plugins")), r => Assert.Contains(Text(r, "pluginRef"), names));
        var engines = List(plugins.Single(p => Text(p, "type") == "core-metrics-extractor"), "parameters", "engineConfigs");

        await using var server = await TernServer.StartAsync(new ServerOptions { ModelPath = SharedData.Path("models/stories260K.gguf"), Port = 0 }, TextWriter.Null, TestContext.Current.CancellationToken);
        await server.WaitUntilReadyAsync();
        using var http = new HttpClient();
        string metrics = await http.GetStringAsync(new Uri(server.Address + "/metrics"), TestContext.Current.CancellationToken);
        var served = metrics.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l[..l.IndexOfAny(['{', ' '])]).ToHashSet();

        foreach (var engine in engines)
        {
            // Every metric the extractor knows is named here: one left out takes the picker's default, which may be
            // a name Tern does not serve (vllm:lora_requests_info), and a pod missing a metric is marked unhealthy.
            foreach (string spec in new[] { "queuedRequestsSpec", "runningRequestsSpec", "kvUsageSpec", "cacheInfoSpec", "loraSpec" })
            {
                string name = Text(engine, spec).Split('{')[0];
                Assert.True(name.Length == 0 || served.Contains(name), $"{spec} {name} is not in Tern's /metrics");
            }

            foreach (string spec in new[] { "queuedRequestsSpec", "runningRequestsSpec", "kvUsageSpec" })
                Assert.NotEmpty(Text(engine, spec)); // what the queue and KV-cache scorers read
        }
    }

    [Theory]
    [InlineData("FROM a AS build\nRUNN x\nFROM b\nUSER 1\nENTRYPOINT [\"x\"]", "unknown instruction RUNN")]
    [InlineData("FROM a AS build\nFROM b\nCOPY --from=biuld /app /app\nUSER 1\nENTRYPOINT [\"x\"]", "names no earlier stage")]
    [InlineData("FROM a AS x\nFROM b AS x\nUSER 1\nENTRYPOINT [\"x\"]", "named twice")]
    [InlineData("FROM a\nENTRYPOINT [\"x\"]", "sets no USER")]
    [InlineData("FROM a\nUSER 1000\nFROM b\nENTRYPOINT [\"x\"]", "sets no USER")]
    [InlineData("FROM a\nUSER root\nENTRYPOINT [\"x\"]", "USER is root")]
    [InlineData("FROM a\nUSER 0:0\nENTRYPOINT [\"x\"]", "USER is root")]
    [InlineData("FROM a\nUSER 1\nENTRYPOINT /app/tern serve", "not in exec form")]
    [InlineData("FROM a\nUSER 1\nENTRYPOINT [\"x\", ]", "not in exec form")]
    [InlineData("FROM a\nUSER 1\nENTRYPOINT [\"x\"]\nHEALTHCHECK --interval=5s curl -f http://localhost/", "expected [OPTIONS] CMD")]
    [InlineData("FROM a\nUSER 1\nENTRYPOINT [\"x\"]\nHEALTHCHECK CMD curl -f http://localhost/", "not in exec form")]
    [InlineData("USER 1\nFROM a\nENTRYPOINT [\"x\"]", "before the first FROM")]
    [InlineData("FROM a\nUSER 1\nENTRYPOINT [\"x\"] \\", "ends with a backslash")]
    public void Dockerfile_check_refuses_what_would_not_build_or_would_run_as_root(string text, string error) =>
        Assert.Contains(error, Assert.Throws<FormatException>(() => new DockerfileSyntax(text)).Message, StringComparison.Ordinal);

    [Fact]
    public void Dockerfile_check_joins_continuation_lines_and_skips_comments()
    {
        var file = new DockerfileSyntax("ARG V=1\nFROM a AS build\n# a comment\nFROM b\nCOPY --from=build /x /x\nENV A=1 \\\n    # inside\n    B=\nUSER 10:10\nEXPOSE 80 443/tcp\nENTRYPOINT [\"x\", \"y\"]\n");

        Assert.Equal(["build", ""], file.Stages);
        Assert.Equal(new Dictionary<string, string> { ["A"] = "1", ["B"] = "" }, file.Env);
        Assert.Equal([80, 443], file.Exposed);
        Assert.Equal(["x", "y"], file.Entrypoint);
    }

    [Theory]
    [InlineData("a: 1\n---\n")] // an empty document
    [InlineData("a: [1, 2\n")]
    [InlineData("a:\n\t- b\n")]
    [InlineData("- a\n- b\n")]
    public void Yaml_parse_refuses_broken_or_empty_documents(string text) =>
        Assert.ThrowsAny<YamlException>(() => Parse(text));

    /// <summary>The args as `tern serve` parses them; any unknown flag or bad value fails here.</summary>
    private static ParseResult Serve(IEnumerable<string> args)
    {
        var parse = ServeCommand.Create(TextWriter.Null).Parse(args.ToArray());
        Assert.True(parse.Errors.Count == 0, string.Join("; ", parse.Errors.Select(e => e.Message)));
        return parse;
    }

    private static int ContainerPort(string nameOrNumber) => int.TryParse(nameOrNumber, CultureInfo.InvariantCulture, out int n)
        ? n
        : Int(List(TernContainer, "ports").Single(p => Text(p, "name") == nameOrNumber), "containerPort");

    private static long Mebibytes(string quantity) => quantity.EndsWith("Gi", StringComparison.Ordinal)
        ? long.Parse(quantity[..^2], CultureInfo.InvariantCulture) * 1024
        : quantity.EndsWith("Mi", StringComparison.Ordinal) ? long.Parse(quantity[..^2], CultureInfo.InvariantCulture)
        : throw new FormatException($"memory quantity {quantity}: expected Mi or Gi");
}
