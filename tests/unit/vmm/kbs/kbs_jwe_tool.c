/* Encrypt a file to a JWK with the broker's JWE code and print the JWE: the
 * independent implementation in test_kbs_jwe_interop.py decrypts it. */
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "common/fileio.h"
#include "vmm/kbs/kbs_jwe.h"

int main(int argc, char **argv)
{
	struct errbuf eb = {0};
	struct kbs_tee_key k;
	uint8_t *data = NULL;
	size_t len = 0;
	char *jwe = NULL;
	if (argc != 3) {
		fprintf(stderr, "usage: kbs_jwe_tool JWK-FILE DATA-FILE\n");
		return 2;
	}
	struct json_object *jwk = json_object_from_file(argv[1]);
	if (!jwk || kbs_tee_key_from_jwk(jwk, "jwk", &k, &eb) < 0 ||
	    file_read_all(argv[2], 1 << 20, &data, &len, &eb) < 0 ||
	    kbs_jwe_encrypt(&k, data, len, &jwe, &eb) < 0) {
		fprintf(stderr, "kbs_jwe_tool: %s\n", jwk ? eb.msg : "cannot read the JWK");
		return 1;
	}
	printf("%s\n", jwe);
	free(jwe);
	free(data);
	kbs_tee_key_clear(&k);
	json_object_put(jwk);
	return 0;
}
