#!/usr/bin/env bash
# make-prompts.sh: synthesise callscreen's placeholder prompts and check them.
#
# Writes 8 kHz, mono, 16-bit signed PCM .wav files (Asterisk's "wav" format,
# playable as sound:callscreen/<name> once installed) into
#   en/<name>.wav, ja/<name>.wav   -> ROOT/usr/share/asterisk/sounds/{en,ja}/callscreen/
#   ja/digits/<0-9>.wav            -> ROOT/usr/share/asterisk/sounds/ja/digits/
# (integration/asterisk/install.sh copies them there), then checks every
# file with sox: 8 kHz mono 16-bit, 0.3 to 15 s long, peak at or below
# -1 dBFS (normalised to -3 dBFS, so nothing clips).
#
# The voices are espeak-ng's: Debian has Open JTalk but no Japanese HTS
# voice for it, and no MBROLA Japanese voice, so these are placeholders made
# as intelligible as espeak-ng allows: Japanese from kana (espeak-ng does
# not read kanji), numbers spelt digit by digit with pauses (「いち、はち、
# ろく」), a rate of 150 words a minute,
# pauses between sentences (SSML <break>), the telephone band only
# (200-3400 Hz) and a level of -3 dBFS.
#
# Replacing them with studio recordings: record each prompt below (the
# kanji text is the script for a Japanese speaker), export it as 8 kHz mono
# 16-bit PCM WAV under the same name (sox in.wav -r 8000 -c 1 -b 16 out.wav
# gain -n -3), put it in en/ or ja/ and run "make-prompts.sh --check". Or
# keep your files elsewhere under Asterisk's sounds directory and point the
# profile's prompts.* keys (callscreen.yaml) at them. make-prompts.sh never
# overwrites an existing file unless given -f (which remakes them all with
# the parameters below).
#
# Prompts (name: English / Japanese):
#   callscreen-number-request: "This number does not accept calls with a
#     withheld number. Please call again with your number shown."
#     「恐れ入りますが、番号非通知のお電話はお受けしておりません。電話
#     番号の前に186をつけて、おかけ直しください。」 (as NTT's own
#     Number Request says: redial with 186 in front)
#   callscreen-hint-186, -hint-star82, -hint-1470: the local way to show a
#     number on one call, played after the English number request
#     (prompts.number_request_hint; callscreen picks 186 for JP, *82 for
#     US/CA, 1470 for GB unless set): "In Japan, dial one, eight, six,
#     before the number." / "To show your number, dial star eight two
#     before the number." / "To show your number, dial one four seven zero
#     before the number." The Japanese number request names 186 itself.
#   callscreen-press-digit: "To reach us, please press the digit you hear."
#     「おつなぎするには、これからお伝えする数字を押してください。」
#     (followed by digits/N)
#   callscreen-wrong-digit: "Sorry, that was not the right digit."
#     「申し訳ございません、数字が違います。」
#   callscreen-reject: "We cannot accept this call."
#     「申し訳ございませんが、このお電話はお受けできません。」
#   callscreen-recording-notice: "This call may be recorded."
#     「この通話は録音されることがあります。」
#   callscreen-say-name: "After the tone, please say your name."
#     「ピーという音のあとに、お名前をお話しください。」
#   ja/digits/0-9: ゼロ いち に さん よん ご ろく なな はち きゅう
# English prompts that Asterisk's core sounds already cover (digits/N, beep,
# vm-*, privacy-*) are not synthesised.
#
# Needs: espeak-ng, sox (Debian: apt-get install espeak-ng sox).
# Usage: make-prompts.sh [-f | --check]
#   -f       regenerate files that already exist
#   --check  only check the existing files
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
mode=make; force=0
case ${1:-} in
-f) force=1 ;;
--check) mode=check ;;
"") ;;
*) echo "usage: make-prompts.sh [-f | --check]" >&2; exit 2 ;;
esac
need=(sox); [[ $mode == make ]] && need+=(espeak-ng)
for t in "${need[@]}"; do command -v "$t" >/dev/null || { echo "make-prompts.sh: $t is not installed" >&2; exit 1; }; done

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# say LANG OUT TEXT: synthesise TEXT (SSML: "|" becomes a pause) with
# espeak-ng into OUT.
say() {
	local lang=$1 out=$2 text=$3 voice rate
	if [[ -f $out && $force == 0 ]]; then return 0; fi
	case $lang in
	en) voice=en-us rate=150 ;;
	ja) voice=ja rate=150 ;;
	esac
	mkdir -p "$(dirname "$out")"
	espeak-ng -m -v "$voice" -s "$rate" -w "$tmp/raw.wav" "<speak>${text//|/<break time=\"400ms\"/>}</speak>"
	# Telephone band, 8 kHz mono 16-bit; trim silence at both ends, keep
	# 0.2 s after; normalise to -3 dBFS last, so nothing clips.
	sox "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out" \
		highpass 200 lowpass 3400 \
		silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.2 \
		gain -n -3
	echo "wrote $out"
}

# check FILE: the format, length and level every prompt must have.
check() {
	local f=$1 rate ch bits dur peak
	rate=$(soxi -r "$f"); ch=$(soxi -c "$f"); bits=$(soxi -b "$f"); dur=$(soxi -D "$f")
	peak=$(sox "$f" -n stats 2>&1 | awk '/^Pk lev dB/ {print $4}')
	if [[ $rate != 8000 || $ch != 1 || $bits != 16 ]]; then
		echo "make-prompts.sh: $f: ${rate} Hz, $ch channels, $bits bits; want 8000 Hz mono 16-bit" >&2; return 1
	fi
	if ! awk -v d="$dur" -v p="$peak" 'BEGIN { exit !(d >= 0.3 && d <= 15 && p <= -1) }'; then
		echo "make-prompts.sh: $f: ${dur} s, peak ${peak} dBFS; want 0.3-15 s and a peak at or below -1 dBFS" >&2; return 1
	fi
	printf '%-42s %6.2f s  peak %6.2f dBFS\n' "$f" "$dur" "$peak"
}

if [[ $mode == make ]]; then
	# name | English | Japanese (kana; "|" is not allowed inside, "、" pauses briefly)
	while IFS='#' read -r name en ja; do
		[[ -z $name ]] && continue
		[[ -n $en ]] && say en "en/$name.wav" "$en"
		[[ -n $ja ]] && say ja "ja/$name.wav" "$ja"
	done <<'PROMPTS'
callscreen-number-request#This number does not accept calls with a withheld number.|Please call again with your number shown.#おそれいりますが、ばんごうひつうちの、おでんわは、おうけしておりません。|でんわばんごうのまえに、いち、はち、ろく、をつけて、おかけなおしください。
callscreen-hint-186#In Japan, dial one, eight, six, before the number.#でんわばんごうのまえに、いち、はち、ろく、をつけて、おかけください。
callscreen-hint-star82#To show your number, dial star, eight, two, before the number.#ばんごうのまえに、こめじるし、はち、に、をつけて、おかけください。
callscreen-hint-1470#To show your number, dial one, four, seven, zero, before the number.#ばんごうのまえに、いち、よん、なな、ゼロ、をつけて、おかけください。
callscreen-press-digit#To reach us, please press the digit you hear.#おつなぎするには、これからおつたえするすうじを、おしてください。
callscreen-wrong-digit#Sorry, that was not the right digit.#もうしわけございません、|すうじがちがいます。
callscreen-reject#We cannot accept this call.#もうしわけございませんが、このおでんわは、おうけできません。
callscreen-recording-notice#This call may be recorded.#このつうわは、ろくおんされることがあります。
callscreen-say-name#After the tone, please say your name.#ピーというおとのあとに、おなまえをおはなしください。
PROMPTS

	# Japanese digits for SayDigits()/say:digits with CHANNEL(language)=ja
	# (Asterisk's core sounds have no Japanese; it would otherwise fall back to en).
	ja_digits=(ゼロ いち に さん よん ご ろく なな はち きゅう)
	for d in 0 1 2 3 4 5 6 7 8 9; do
		say ja "ja/digits/$d.wav" "${ja_digits[$d]}"
	done
fi

failed=0
for f in en/*.wav ja/*.wav ja/digits/*.wav; do
	check "$f" || failed=1
done
exit $failed
