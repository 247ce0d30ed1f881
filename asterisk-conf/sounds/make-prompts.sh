#!/usr/bin/env bash
# make-prompts.sh: synthesise callscreen's placeholder prompts.
#
# Writes 8 kHz, mono, 16-bit signed PCM .wav files (Asterisk's "wav" format,
# playable as sound:callscreen/<name> once installed) into
#   en/<name>.wav, ja/<name>.wav   -> ROOT/usr/share/asterisk/sounds/{en,ja}/callscreen/
#   ja/digits/<0-9>.wav            -> ROOT/usr/share/asterisk/sounds/ja/digits/
# (integration/asterisk/install.sh copies them there).
#
# The voices are espeak-ng's (Japanese from kana text, as espeak-ng does not
# read kanji). They are placeholders: integrators replace them with studio
# recordings of the same names, or point callscreen.yaml at other names.
# English prompts that Asterisk's core sounds already cover (digits/N, beep,
# vm-*, privacy-*) are not synthesised.
#
# Needs: espeak-ng, sox (Debian: apt-get install espeak-ng sox).
# Usage: make-prompts.sh [-f]     -f regenerates files that already exist.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
force=0; [[ ${1:-} == -f ]] && force=1
for t in espeak-ng sox; do command -v "$t" >/dev/null || { echo "make-prompts.sh: $t is not installed" >&2; exit 1; }; done

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# say VOICE OUT TEXT: synthesise TEXT with espeak-ng VOICE into OUT.
say() {
	local voice=$1 out=$2 text=$3
	if [[ -f $out && $force == 0 ]]; then return 0; fi
	mkdir -p "$(dirname "$out")"
	espeak-ng -v "$voice" -s 150 -w "$tmp/raw.wav" "$text"
	# 8 kHz mono 16-bit; normalise to -3 dBFS; trim leading silence.
	sox "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out" silence 1 0.02 0.5% gain -n -3
	echo "wrote $out"
}

# name | English | Japanese (kana)
while IFS='|' read -r name en ja; do
	[[ -z $name || $name == \#* ]] && continue
	say en-us "en/$name.wav" "$en"
	say ja "ja/$name.wav" "$ja"
done <<'PROMPTS'
callscreen-number-request|This number does not accept calls with a withheld number. Please call again with your number shown.|おそれいりますが、このでんわは、ばんごうをひつうちでおかけのおでんわを、おうけしておりません。おてすうですが、ばんごうをつうちして、おかけなおしください。
callscreen-press-digit|To reach us, please press the digit you hear.|おつなぎするには、これからおつたえするすうじを、おしてください。
callscreen-wrong-digit|Sorry, that was not the right digit.|もうしわけございません、すうじがちがいます。
callscreen-reject|We cannot accept this call.|もうしわけございませんが、このおでんわは、おうけできません。
callscreen-recording-notice|This call may be recorded.|このつうわは、ろくおんされることがあります。
callscreen-say-name|After the tone, please say your name.|ピーというおとのあとに、おなまえをおはなしください。
PROMPTS

# Japanese digits for SayDigits()/say:digits with CHANNEL(language)=ja
# (Asterisk's core sounds have no Japanese; it would otherwise fall back to en).
ja_digits=(ゼロ いち に さん よん ご ろく なな はち きゅう)
for d in 0 1 2 3 4 5 6 7 8 9; do
	say ja "ja/digits/$d.wav" "${ja_digits[$d]}"
done
