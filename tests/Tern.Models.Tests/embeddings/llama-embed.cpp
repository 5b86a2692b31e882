// Reference token embeddings from llama.cpp 2026 (the libllama that ../shared/llama-ref/setup.sh unpacks), through
// its C API without headers, as ../shared/llama-ref/logits.cpp does: the prompt runs as one batch with embeddings on
// and no pooling (the default for generative models), and every token's embedding — the hidden state after the
// output norm, before the output matrix — is written as n_tokens x n_embd little-endian float32, plus a .json with
// the token ids. Pooling (mean, CLS, last) and L2 normalisation are derived from these in the tests.
// Usage: llama-embed LIBDIR MODEL.gguf OUT_PREFIX "prompt"
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
extern "C" {
struct blob { alignas(16) unsigned char b[2048]; };
struct llama_batch { int32_t n_tokens; int32_t * token; float * embd; int32_t * pos; int32_t * n_seq_id; int32_t ** seq_id; int8_t * logits; };
void ggml_backend_load_all_from_path(const char * dir);
void llama_backend_init(void);
blob llama_model_default_params(void);
blob llama_context_default_params(void);
void * llama_model_load_from_file(const char * path, blob params);
void * llama_init_from_model(void * model, blob params);
const void * llama_model_get_vocab(const void * model);
int32_t llama_tokenize(const void * vocab, const char * text, int32_t len, int32_t * toks, int32_t n_max, bool add_special, bool parse_special);
int32_t llama_model_n_embd(const void * model);
void llama_set_embeddings(void * ctx, bool embeddings);
llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max);
int32_t llama_decode(void * ctx, llama_batch batch);
float * llama_get_embeddings_ith(void * ctx, int32_t i);
}
int main(int argc, char ** argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s LIBDIR MODEL OUT_PREFIX PROMPT\n", argv[0]); return 2; }
    ggml_backend_load_all_from_path(argv[1]);
    llama_backend_init();
    void * model = llama_model_load_from_file(argv[2], llama_model_default_params());
    if (!model) return 1;
    const void * vocab = llama_model_get_vocab(model);
    std::string prompt = argv[4];
    std::vector<int32_t> toks(prompt.size() + 8);
    int n = llama_tokenize(vocab, prompt.c_str(), prompt.size(), toks.data(), toks.size(), true, true);
    if (n < 0) return 1;
    toks.resize(n);
    blob cp = llama_context_default_params();
    uint32_t first[3] = {512, 512, 512};  // n_ctx, n_batch, n_ubatch
    memcpy(cp.b, first, sizeof first);
    void * ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;
    llama_set_embeddings(ctx, true);
    llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) { b.token[i] = toks[i]; b.pos[i] = i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1; }
    b.n_tokens = n;
    if (llama_decode(ctx, b) != 0) return 1;
    const int d = llama_model_n_embd(model);
    std::string pre = argv[3];
    FILE * f = fopen((pre + ".f32").c_str(), "wb");
    for (int i = 0; i < n; i++) { const float * e = llama_get_embeddings_ith(ctx, i); if (!e) return 1; fwrite(e, sizeof(float), d, f); }
    fclose(f);
    std::string mname = argv[2]; mname = mname.substr(mname.find_last_of('/') + 1);
    FILE * j = fopen((pre + ".json").c_str(), "w");
    fprintf(j, "{\"model\": \"models/%s\", \"n_embd\": %d, \"prompt\": \"", mname.c_str(), d);
    for (char c : prompt) { if (c == '"' || c == '\\') fputc('\\', j); fputc(c, j); }
    fprintf(j, "\", \"tokens\": [");
    for (int i = 0; i < n; i++) fprintf(j, "%s%d", i ? ", " : "", toks[i]);
    fprintf(j, "]}\n");
    fclose(j);
    return 0;
}
