# What zsh's completion offers for a command line, one match per line ("HIT:match").
#   zsh -f tests/zsh_capture.zsh SCRIPT 'lanmsg send --tr'
# Runs an interactive zsh on a pseudo-terminal (zpty), loads compinit and SCRIPT (a completion
# script), types the line and Tab, and prints what compadd was given; the compadd wrapper and the
# null-line markers follow Valodim's zsh-capture-completion.
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PS1=''; autoload -U compinit; compinit -u -D"
zpty -w z "source ${(q)1}"
zpty -w z 'bindkey "^I" complete-word'
zpty -w z 'null-line () { echo -E - $'"'"'\0'"'"' }; compprefuncs=( null-line ); comppostfuncs=( null-line exit )'
zpty -w z "zstyle ':completion:*' list-grouped false; zstyle ':completion:*' insert-tab false"
zpty -w z 'compadd () { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi; typeset -a __hits; builtin compadd -A __hits "$@"; local h; for h in $__hits; do echo -E - "HIT:$h"; done }'
zpty -n -w z "$2"$'\t'
integer tog=0
while zpty -r z; do :; done | while IFS= read -r line; do
    if [[ $line == *$'\0\r' ]]; then (( tog++ )) && exit 0 || continue; fi
    (( tog )) && echo -E - "$line"
done
exit 2
