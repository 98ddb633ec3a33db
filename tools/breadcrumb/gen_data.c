/* The generator's seeded random source, the shop's services and the PII value makers. */
#include "tools/breadcrumb/gen_internal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

uint64_t gen_rng_u64(struct gen_rng *rng)
{
    uint64_t ctr = rng->ctr++;
    return XXH3_64bits_withSeed(&ctr, sizeof(ctr), rng->seed);
}

double gen_rng_unit(struct gen_rng *rng)
{
    return (double)(gen_rng_u64(rng) >> 11) * 0x1.0p-53;
}

int64_t gen_rng_range(struct gen_rng *rng, int64_t lo, int64_t hi)
{
    if (hi <= lo) {
        return lo;
    }
    return lo + (int64_t)(gen_rng_u64(rng) % (uint64_t)(hi - lo + 1));
}

int gen_rng_chance(struct gen_rng *rng, double p)
{
    /* Always draw, so that a rate of 0 consumes the same values as any other rate. */
    double u = gen_rng_unit(rng);
    return u < p;
}

void gen_rng_id(struct gen_rng *rng, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = gen_rng_u64(rng);
        memcpy(out + i, &r, len - i < 8 ? len - i : 8);
    }
    out[0] |= 0x01; /* never the all-zero id, which OTLP defines as invalid */
}

const char *gen_rng_pick(struct gen_rng *rng, const char *const *list, size_t n)
{
    return list[gen_rng_range(rng, 0, (int64_t)n - 1)];
}

/* ---- the shop ---- */

static const char *const ops_frontend[] = {
    "GET /",          "GET /product/{id}", "GET /cart",   "POST /cart",
    "POST /checkout", "GET /search",       "POST /login", NULL};
static const char *const ops_gateway[] = {"GET /api/products",
                                          "GET /api/cart",
                                          "POST /api/cart/items",
                                          "POST /api/checkout",
                                          "GET /api/search",
                                          "POST /api/login",
                                          NULL};
static const char *const ops_auth[] = {"Login", "VerifyToken", "RefreshToken", NULL};
static const char *const ops_user[] = {"GetUser", "GetProfile", "UpdatePreferences", NULL};
static const char *const ops_search[] = {"Search", "Suggest", NULL};
static const char *const ops_catalog[] = {"GetProduct", "ListProducts", "SearchProducts", NULL};
static const char *const ops_recommendation[] = {"ListRecommendations", NULL};
static const char *const ops_ad[] = {"GetAds", NULL};
static const char *const ops_cart[] = {"GetCart", "AddItem", "EmptyCart", NULL};
static const char *const ops_pricing[] = {"GetPrice", "ApplyDiscount", NULL};
static const char *const ops_currency[] = {"Convert", "GetSupportedCurrencies", NULL};
static const char *const ops_checkout[] = {"PlaceOrder", NULL};
static const char *const ops_payment[] = {"Charge", "Refund", NULL};
static const char *const ops_fraud[] = {"Score", NULL};
static const char *const ops_inventory[] = {"Reserve", "CheckStock", NULL};
static const char *const ops_shipping[] = {"GetQuote", "ShipOrder", NULL};
static const char *const ops_email[] = {"SendOrderConfirmation", NULL};
static const char *const ops_notification[] = {"Notify", NULL};
static const char *const ops_review[] = {"ListReviews", "PostReview", NULL};
static const char *const ops_loyalty[] = {"AddPoints", "GetBalance", NULL};

#define E -1
const struct gen_service_info gen_services[GEN_MAX_SERVICES] = {
    [SVC_FRONTEND] = {"frontend", NULL, ops_frontend, NULL, "nodejs", {SVC_GATEWAY, E}},
    [SVC_GATEWAY] = {"gateway",
                     NULL,
                     ops_gateway,
                     "redis",
                     "go",
                     {SVC_AUTH, SVC_CART, SVC_CATALOG, SVC_SEARCH, SVC_CHECKOUT, SVC_RECOMMENDATION,
                      SVC_AD, E}},
    [SVC_AUTH] = {"auth", "shop.AuthService", ops_auth, "postgresql", "java", {SVC_USER, E}},
    [SVC_USER] = {"user", "shop.UserService", ops_user, "postgresql", "java", {E}},
    [SVC_SEARCH] =
        {"search", "shop.SearchService", ops_search, "elasticsearch", "python", {SVC_CATALOG, E}},
    [SVC_CATALOG] = {"catalog",
                     "shop.CatalogService",
                     ops_catalog,
                     "postgresql",
                     "go",
                     {SVC_PRICING, SVC_INVENTORY, SVC_REVIEW, E}},
    [SVC_RECOMMENDATION] = {"recommendation",
                            "shop.RecommendationService",
                            ops_recommendation,
                            "redis",
                            "python",
                            {SVC_CATALOG, E}},
    [SVC_AD] = {"ad", "shop.AdService", ops_ad, NULL, "java", {E}},
    [SVC_CART] = {"cart",
                  "shop.CartService",
                  ops_cart,
                  "redis",
                  "dotnet",
                  {SVC_CATALOG, SVC_PRICING, SVC_INVENTORY, E}},
    [SVC_PRICING] =
        {"pricing", "shop.PricingService", ops_pricing, "postgresql", "go", {SVC_CURRENCY, E}},
    [SVC_CURRENCY] = {"currency", "shop.CurrencyService", ops_currency, NULL, "cpp", {E}},
    [SVC_CHECKOUT] = {"checkout",
                      "shop.CheckoutService",
                      ops_checkout,
                      "postgresql",
                      "go",
                      {SVC_CART, SVC_PAYMENT, SVC_INVENTORY, SVC_SHIPPING, SVC_EMAIL, SVC_LOYALTY,
                       SVC_PRICING, E}},
    [SVC_PAYMENT] = {"payment",
                     "shop.PaymentService",
                     ops_payment,
                     "postgresql",
                     "nodejs",
                     {SVC_FRAUD, SVC_CURRENCY, E}},
    [SVC_FRAUD] = {"fraud", "shop.FraudService", ops_fraud, "redis", "python", {E}},
    [SVC_INVENTORY] =
        {"inventory", "shop.InventoryService", ops_inventory, "postgresql", "rust", {E}},
    [SVC_SHIPPING] =
        {"shipping", "shop.ShippingService", ops_shipping, NULL, "rust", {SVC_NOTIFICATION, E}},
    [SVC_EMAIL] = {"email", "shop.EmailService", ops_email, NULL, "ruby", {SVC_NOTIFICATION, E}},
    [SVC_NOTIFICATION] =
        {"notification", "shop.NotificationService", ops_notification, NULL, "go", {E}},
    [SVC_REVIEW] =
        {"review", "shop.ReviewService", ops_review, "postgresql", "python", {SVC_USER, E}},
    [SVC_LOYALTY] =
        {"loyalty", "shop.LoyaltyService", ops_loyalty, "postgresql", "java", {SVC_USER, E}},
};
#undef E

const int gen_service_priority[GEN_MAX_SERVICES] = {
    SVC_FRONTEND,       SVC_GATEWAY, SVC_CART,         SVC_CHECKOUT, SVC_PAYMENT,
    SVC_CATALOG,        SVC_SEARCH,  SVC_AUTH,         SVC_USER,     SVC_INVENTORY,
    SVC_SHIPPING,       SVC_FRAUD,   SVC_EMAIL,        SVC_PRICING,  SVC_CURRENCY,
    SVC_RECOMMENDATION, SVC_AD,      SVC_NOTIFICATION, SVC_REVIEW,   SVC_LOYALTY,
};

/* ---- PII ---- */

static const char *const first_names[] = {
    "alice",   "bob",  "carol",  "dave",  "erin",   "frank", "grace",  "heidi",  "ivan",   "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent",  "victor", "walter", "yasmin",
    "zoe",     "amir", "bea",    "chen",  "dara",   "emeka", "fatima", "goran",  "hana",   "ines"};
static const char *const last_names[] = {
    "smith", "jones",  "garcia", "muller", "rossi",   "dubois", "novak",  "kowalski", "tanaka",
    "silva", "okafor", "hansen", "nguyen", "schmidt", "moreau", "larsen", "ivanova",  "kim"};
static const char *const domains[] = {"example.com", "mail.example.org", "example.net",
                                      "inbox.example.co.uk", "post.example.de"};

void gen_pii_email(struct gen_rng *rng, char *out, size_t cap)
{
    const char *first = GEN_PICK(rng, first_names);
    const char *last = GEN_PICK(rng, last_names);
    const char *domain = GEN_PICK(rng, domains);
    snprintf(out, cap, "%s.%s%d@%s", first, last, (int)gen_rng_range(rng, 1, 9999), domain);
}

static int luhn_check_digit(const char *digits, size_t n)
{
    /* The check digit makes the sum valid when appended: double every second digit from
     * the right, starting with the rightmost payload digit. */
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (i % 2 == 0) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }
        sum += d;
    }
    return (10 - sum % 10) % 10;
}

int gen_luhn_valid(const char *digits)
{
    int sum = 0;
    int pos = 0;
    size_t n = strlen(digits);
    for (size_t i = n; i-- > 0;) {
        if (digits[i] == ' ') {
            continue;
        }
        if (digits[i] < '0' || digits[i] > '9') {
            return 0;
        }
        int d = digits[i] - '0';
        if (pos % 2 == 1) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }
        sum += d;
        pos++;
    }
    return pos >= 12 && sum % 10 == 0;
}

void gen_pii_card(struct gen_rng *rng, char *out, size_t cap, int spaced)
{
    char digits[20];
    size_t len;
    int brand = (int)gen_rng_range(rng, 0, 2);
    if (brand == 0) { /* Visa */
        digits[0] = '4';
        len = 16;
        for (size_t i = 1; i < len - 1; i++) {
            digits[i] = (char)('0' + gen_rng_range(rng, 0, 9));
        }
    } else if (brand == 1) { /* Mastercard */
        digits[0] = '5';
        digits[1] = (char)('1' + gen_rng_range(rng, 0, 4));
        len = 16;
        for (size_t i = 2; i < len - 1; i++) {
            digits[i] = (char)('0' + gen_rng_range(rng, 0, 9));
        }
    } else { /* American Express */
        digits[0] = '3';
        digits[1] = gen_rng_chance(rng, 0.5) ? '4' : '7';
        len = 15;
        for (size_t i = 2; i < len - 1; i++) {
            digits[i] = (char)('0' + gen_rng_range(rng, 0, 9));
        }
    }
    digits[len - 1] = (char)('0' + luhn_check_digit(digits, len - 1));
    digits[len] = '\0';
    if (!spaced) {
        snprintf(out, cap, "%s", digits);
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < len && o + 2 < cap; i++) {
        if (i > 0 && i % 4 == 0) {
            out[o++] = ' ';
        }
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

void gen_pii_ip(struct gen_rng *rng, char *out, size_t cap)
{
    static const int first_octets[] = {23,  31,  46,  62,  77,  81,  89,  91, 93,
                                       109, 151, 176, 185, 188, 195, 212, 217};
    int a = first_octets[gen_rng_range(rng, 0, sizeof(first_octets) / sizeof(int) - 1)];
    snprintf(out, cap, "%d.%d.%d.%d", a, (int)gen_rng_range(rng, 0, 255),
             (int)gen_rng_range(rng, 0, 255), (int)gen_rng_range(rng, 1, 254));
}

/* base64url without padding, in place. */
static void to_b64url(char *s)
{
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '+') {
            *p = '-';
        } else if (*p == '/') {
            *p = '_';
        } else if (*p == '=') {
            *p = '\0';
            break;
        }
    }
}

void gen_pii_token(struct gen_rng *rng, char *out, size_t cap)
{
    char claims[128];
    int n = snprintf(claims, sizeof(claims), "{\"sub\":\"u%06d\",\"iat\":%d,\"scope\":\"shop\"}",
                     (int)gen_rng_range(rng, 1, 999999),
                     (int)gen_rng_range(rng, 1790000000, 1800000000));
    char payload[256];
    gen_b64((const uint8_t *)claims, (size_t)n, payload, sizeof(payload));
    to_b64url(payload);
    uint8_t sig_bytes[32];
    gen_rng_id(rng, sig_bytes, sizeof(sig_bytes));
    char sig[64];
    gen_b64(sig_bytes, sizeof(sig_bytes), sig, sizeof(sig));
    to_b64url(sig);
    snprintf(out, cap, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.%s.%s", payload, sig);
}

void gen_b64(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (cap < 4 * ((len + 2) / 3) + 1) {
        out[0] = '\0';
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

void gen_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void gen_fmt_rfc3339(int64_t ns, char *out, size_t cap)
{
    time_t secs = (time_t)(ns / 1000000000LL);
    int ms = (int)((ns / GEN_NS_PER_MS) % 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", date, ms);
}
