# Shared by the azd hooks (sourced, not run): checks that say what to do, and a bounded retry for Azure's delays.

# The hooks call the Azure CLI; azd's own sign-in does not cover it.
require_az_login() {
  if ! command -v az >/dev/null 2>&1; then
    echo "argoboot: the Azure CLI (az) is not installed; install it (https://aka.ms/azure-cli), run 'az login', then 'azd hooks run $1'" >&2
    exit 1
  fi
  if ! signed_in=$(az account show --query id -o tsv 2>/dev/null) || [ -z "$signed_in" ]; then
    echo "argoboot: the Azure CLI is not signed in; run 'az login' (and 'az account set --subscription $AZURE_SUBSCRIPTION_ID'), then 'azd hooks run $1'" >&2
    exit 1
  fi
}

# retry_on "<what>" "<pattern of a passing error>" "<what to do if it never passes>" <command...>: run the command;
# while it fails with an error matching the pattern (grep -E), wait ARGOBOOT_RETRY_SECONDS (default 30) and try again,
# at most ARGOBOOT_RETRY_ATTEMPTS times (default 10). Any other error, or the last attempt's, is printed and ends the hook.
retry_on() {
  what=$1
  pattern=$2
  hint=$3
  shift 3
  attempts=${ARGOBOOT_RETRY_ATTEMPTS:-10}
  delay=${ARGOBOOT_RETRY_SECONDS:-30}
  attempt=1
  errors=$(mktemp)
  while :; do
    if "$@" 2>"$errors"; then
      rm -f "$errors"
      return 0
    fi
    if ! grep -Eq "$pattern" "$errors"; then
      cat "$errors" >&2
      rm -f "$errors"
      echo "argoboot: $what failed (see the error above)" >&2
      exit 1
    fi
    if [ "$attempt" -ge "$attempts" ]; then
      cat "$errors" >&2
      rm -f "$errors"
      echo "argoboot: $what still failed after $attempts attempts, $delay s apart: $hint" >&2
      exit 1
    fi
    echo "argoboot: $what: Azure is not ready yet ($(grep -Eo "$pattern" "$errors" | head -n 1)); retrying in $delay s ($attempt/$attempts)" >&2
    attempt=$((attempt + 1))
    sleep "$delay"
  done
}

# identity_home <subscription>: "<subscription> <group>" of the identity resource group IDENTITY_RESOURCE_GROUP gives
# that subscription's clusters (a name, a resource group id, or <subscription>=<either> entries, as
# shared/bootstrap/identity_placement.py reads it), or nothing when it gives none (identities in each cluster's group).
identity_home() {
  target=""
  for entry in $(printf %s "${IDENTITY_RESOURCE_GROUP:-}" | tr ',' ' '); do
    case "$entry" in
      *=*) if [ "$(printf %s "${entry%%=*}" | tr 'A-Z' 'a-z')" = "$(printf %s "$1" | tr 'A-Z' 'a-z')" ]; then
             target=${entry#*=}; break
           fi ;;
      *) target=$entry ;;
    esac
  done
  [ -n "$target" ] || return 0
  case "$target" in
    /subscriptions/*) printf %s "$target" | awk -F/ '{ print $3, $5 }' ;;
    *) echo "$1 $target" ;;
  esac
}

# ensure_identity_group <subscription> <group>: create the identity resource group if it is missing, tagged as this
# environment's argoboot identity group. Never tagged azd-env-name: azd finds groups to delete by that tag too.
ensure_identity_group() {
  exists=$(az group exists --subscription "$1" --name "$2")
  if [ "$exists" != true ]; then
    az group create --subscription "$1" --name "$2" --location "$AZURE_LOCATION" \
      --tags application=argoboot "argoboot-identity-group=$AZURE_ENV_NAME" --output none
    echo "argoboot: created the identity resource group $2 in subscription $1 ('azd down' leaves it: it holds the clusters' Argo CD identities)"
  fi
}
